using IommuSan.Trace;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Tests.Trace;

/// <summary>The front door names the real problem when the path is not a trace at all.</summary>
public sealed class OpeningWhatIsNotATraceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iommusan-open-").FullName;

    [Fact]
    public void A_directory_is_reported_as_a_directory_not_as_access_denied()
    {
        var e = Assert.Throws<TraceDataException>(() => TraceFile.Open(_dir));
        Assert.Equal(_dir, e.File);
        Assert.Contains("is a directory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_file_is_reported_as_empty()
    {
        var path = Path.Combine(_dir, "empty.dat");
        File.WriteAllBytes(path, []);
        var e = Assert.Throws<TraceDataException>(() => TraceFile.Open(path));
        Assert.Equal($"{path}: byte 0 (0x0): the file is empty", e.Message);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
