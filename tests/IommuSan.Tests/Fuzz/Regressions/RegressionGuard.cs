using IommuSan.Trace;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Tests.Fuzz.Regressions;

/// <summary>Reads a committed fuzz finding the way the fuzzer did, under a time guard.</summary>
internal static class RegressionGuard
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "fuzz", name);

    /// <summary>Opens and reads every event; returns the TraceDataException (any other exception fails the test, as does a hang).</summary>
    public static TraceDataException? ReadAll(string path, string? formatsDirectory = null)
    {
        var task = Task.Run(() =>
        {
            using var source = TraceFile.Open(path, new TraceOpenOptions(FormatsDirectory: formatsDirectory));
            foreach (var e in source.ReadEvents())
            {
                _ = e;
            }
        });
        try
        {
            Assert.True(task.Wait(Timeout), $"{path}: no result within {Timeout.TotalSeconds:0} s (a hang)");
            return null;
        }
        catch (AggregateException ae) when (ae.InnerException is TraceDataException tde)
        {
            return tde;
        }
    }

    /// <summary>Runs <paramref name="body"/> on a worker under the time guard; its exception, if any, is rethrown as is.</summary>
    public static T Guarded<T>(string what, Func<T> body)
    {
        var task = Task.Run(body);
        try
        {
            Assert.True(task.Wait(Timeout), $"{what}: no result within {Timeout.TotalSeconds:0} s (a hang)");
        }
        catch (AggregateException ae) when (ae.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ae.InnerException).Throw();
        }

        return task.Result;
    }

    /// <summary>A data error that names the file and says where (byte offset or line), as the CLI prints it.</summary>
    public static TraceDataException Located(string path, string? formatsDirectory = null)
    {
        var e = ReadAll(path, formatsDirectory);
        Assert.True(e is not null, $"{path}: read without an error");
        Assert.Equal(path, e.File);
        Assert.True(e.ByteOffset is not null || e.Line is not null, $"no byte offset or line in: {e.Message}");
        return e;
    }
}
