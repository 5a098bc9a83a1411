using System.IO.Compression;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Records;
using IommuSan.Trace.Text;
using ZstdSharp;

namespace IommuSan.Trace;

/// <summary>How to open a trace; every field is optional.</summary>
/// <param name="Kind">Force the format instead of detecting it (any trace.dat kind means "binary trace.dat").</param>
/// <param name="FormatsDirectory">Event format files for text traces (tracefs <c>events/</c> layout or DIR/SYSTEM/EVENT.format).</param>
/// <param name="CpuPageShift">log2 of the traced machine's page size, for text traces (which do not record it).</param>
internal sealed record TraceOpenOptions(TraceKind? Kind = null, string? FormatsDirectory = null, int? CpuPageShift = null);

/// <summary>
/// The single front door every command uses to read a trace: detects the format (trace.dat magic,
/// gzip and zstd magic, then the first lines of text), decompresses transparently, and returns
/// the matching <see cref="ITraceSource"/>.
/// </summary>
internal static class TraceFile
{
    /// <summary>trace.dat starts with 0x17 0x08 0x44 "tracing" (trace-cmd.dat(5)).</summary>
    private static ReadOnlySpan<byte> DatMagic => [0x17, 0x08, 0x44, (byte)'t', (byte)'r', (byte)'a', (byte)'c', (byte)'i', (byte)'n', (byte)'g'];

    /// <summary>RFC 1952 gzip member header ID1 ID2.</summary>
    private static ReadOnlySpan<byte> GzipMagic => [0x1f, 0x8b];

    /// <summary>RFC 8878 zstd frame magic 0xFD2FB528, little-endian.</summary>
    private static ReadOnlySpan<byte> ZstdMagic => [0x28, 0xb5, 0x2f, 0xfd];

    private const int SniffBytes = 64 * 1024;

    /// <summary>Opens <paramref name="path"/>. Throws <see cref="TraceDataException"/> for input that is not a readable trace
    /// and <see cref="IOException"/> (e.g. <see cref="FileNotFoundException"/>) when the file cannot be opened.</summary>
    public static ITraceSource Open(string path, TraceOpenOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        options ??= new TraceOpenOptions();
        if (Directory.Exists(path))
        {
            // FileStream would say "access denied", which sends users looking at permissions.
            throw new TraceDataException(path, "is a directory, not a trace file");
        }

        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        try
        {
            return OpenStream(path, file, options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static ITraceSource OpenStream(string path, FileStream file, TraceOpenOptions options)
    {
        Span<byte> head = stackalloc byte[16];
        var headLength = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..headLength];
        file.Position = 0;
        if (headLength == 0)
        {
            throw new TraceDataException(path, "the file is empty", byteOffset: 0);
        }

        var isGzip = head.StartsWith(GzipMagic);
        if (!isGzip && !head.StartsWith(ZstdMagic))
        {
            if (IsDat(options.Kind, head))
            {
                return OpenDat(path, file);
            }

            var plainSample = ReadSample(file);
            file.Position = 0;
            return OpenText(path, file, file, plainSample, options);
        }

        Stream decompressed = isGzip ? new GZipStream(file, CompressionMode.Decompress, leaveOpen: true) : new DecompressionStream(file, leaveOpen: true);
        var stream = new CompressedTextStream(decompressed, file, path);
        try
        {
            var sample = ReadSample(stream);
            if (IsDat(options.Kind, sample))
            {
                // The binary reader seeks: unpack to a temporary file that deletes itself on close.
                var temp = UnpackToTemp(sample, stream);
                file.Dispose();
                return OpenDat(path, temp);
            }

            return OpenText(path, new PrefixedStream(sample, stream), file, sample, options);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private static byte[] ReadSample(Stream stream)
    {
        var sample = new byte[SniffBytes];
        var length = stream.ReadAtLeast(sample, sample.Length, throwOnEndOfStream: false);
        return length == sample.Length ? sample : sample[..length];
    }

    private static bool IsDat(TraceKind? forced, ReadOnlySpan<byte> head) =>
        forced is TraceKind.TraceDatV6 or TraceKind.TraceDatV7 || (forced is null && head.StartsWith(DatMagic));

    private static FileStream UnpackToTemp(byte[] sample, Stream rest)
    {
        var tempPath = Path.Combine(Path.GetTempPath(), $"iommusan-{Guid.NewGuid():N}.dat");
        var temp = new FileStream(tempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
        try
        {
            temp.Write(sample);
            using (rest)
            {
                rest.CopyTo(temp);
            }

            temp.Position = 0;
            return temp;
        }
        catch
        {
            temp.Dispose();
            throw;
        }
    }

    private static TextTraceSource OpenText(string path, Stream text, Stream positionStream, ReadOnlySpan<byte> sample, TraceOpenOptions options)
    {
        var kind = options.Kind ?? DetectTextKind(path, sample);
        if (kind is not (TraceKind.FtraceText or TraceKind.TraceCmdReport or TraceKind.PerfScript))
        {
            throw new ArgumentException($"{kind} is not a text trace kind", nameof(options));
        }

        var userFormats = options.FormatsDirectory is { } dir ? TextEventCatalog.LoadDirectory(dir) : [];
        return new TextTraceSource(path, kind, text, positionStream, userFormats, options.CpuPageShift);
    }

    // Looks at the first lines: "cpus=N" is trace-cmd report, "# tracer:" is tracefs; otherwise the
    // first event line decides ("comm-pid" is ftrace, "comm pid" with "sys:event:" is perf script).
    private static TraceKind DetectTextKind(string path, ReadOnlySpan<byte> span)
    {
        if (span.IndexOf((byte)0) >= 0)
        {
            throw new TraceDataException(path, "not a trace: binary data that is neither trace.dat, gzip nor zstd", byteOffset: span.IndexOf((byte)0));
        }

        var lineNumber = 0;
        foreach (var range in span.Split((byte)'\n'))
        {
            lineNumber++;
            var line = span[range].TrimEnd((byte)'\r');
            var trimmed = line.Trim((byte)' ');
            if (trimmed.StartsWith("cpus="u8) || trimmed.StartsWith("version = "u8))
            {
                return TraceKind.TraceCmdReport;
            }

            if (trimmed.StartsWith("# tracer:"u8))
            {
                return TraceKind.FtraceText;
            }

            if (TextLine.TryParse(line, out var head))
            {
                return head.PidAfterSpace ? TraceKind.PerfScript : TraceKind.FtraceText;
            }
        }

        throw new TraceDataException(path, "not a recognised trace: no trace.dat magic and no text event line in the first 64 KiB", line: lineNumber > 0 ? 1 : null);
    }

    private static Dat.TraceDatReader OpenDat(string path, Stream seekable) =>
        Dat.TraceDatReader.Open(path, seekable, leaveOpen: false);
}

/// <summary>
/// Turns decompression failures in the middle of a compressed trace into one-line data errors that
/// name the byte of the compressed file reached so far (where the damage is, give or take a block).
/// </summary>
internal sealed class CompressedTextStream(Stream inner, Stream compressedFile, string path) : ForwardReadStream
{
    public override int Read(byte[] buffer, int offset, int count)
    {
        try
        {
            return inner.Read(buffer, offset, count);
        }
        catch (Exception ex) when (ex is InvalidDataException or ZstdException)
        {
            throw new TraceDataException(path, $"corrupt compressed data: {ex.Message}", byteOffset: compressedFile.Position, inner: ex);
        }
        catch (EndOfStreamException ex)
        {
            throw new TraceDataException(path, "the compressed data ends early (truncated file)", byteOffset: compressedFile.Position, inner: ex);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>Replays the bytes already read for format detection, then the rest of the stream.</summary>
internal sealed class PrefixedStream(byte[] prefix, Stream rest) : ForwardReadStream
{
    private int _prefixPosition;

    public override int Read(byte[] buffer, int offset, int count)
    {
        if (_prefixPosition < prefix.Length)
        {
            var n = Math.Min(count, prefix.Length - _prefixPosition);
            System.Buffer.BlockCopy(prefix, _prefixPosition, buffer, offset, n);
            _prefixPosition += n;
            return n;
        }

        return rest.Read(buffer, offset, count);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            rest.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>The plumbing of a read-only, forward-only stream; subclasses supply Read (and Dispose).</summary>
internal abstract class ForwardReadStream : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
