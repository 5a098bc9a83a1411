using System.CommandLine;
using IommuSan.Cli.Commands;

namespace IommuSan.Tests.Recording;

/// <summary>
/// `iommusan record` end to end against a fake tracefs (--tracefs), recording through a tracefs
/// instance (--no-trace-cmd): what the user gets in the output file, and what is left behind.
/// </summary>
[Collection("Console output")]
public sealed class RecordCommandTests
{
    // As Program does: exceptions reach the caller instead of System.CommandLine's handler.
    private static int Invoke(params string[] args) =>
        RecordCommand.Create().Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });

    /// <summary>The instance directory the command will create, pre-populated the way the kernel would.</summary>
    private static string PrepareInstance(FakeTracefs fs, string traceText)
    {
        var instance = Path.Combine(fs.Root, "instances", "iommusan-" + Environment.ProcessId);
        foreach (var dir in new[] { "iommu", "dma", "kmem/mm_page_alloc", "kmem/mm_page_free", "kmem/mm_page_free_batched", "kmem/kmalloc", "kmem/kfree" })
        {
            Directory.CreateDirectory(Path.Combine(instance, "events", dir));
            File.WriteAllText(Path.Combine(instance, "events", dir, "enable"), "0");
        }

        File.WriteAllText(Path.Combine(instance, "trace"), traceText);
        return instance;
    }

    [Fact]
    public void Tracefs_recording_copies_the_instance_trace_and_leaves_no_probe_or_enabled_event()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        const string Text = "# tracer: nop\n    insmod-1  [000] .....  1.000000: mm_page_free: page=0 pfn=0x1000 order=0\n";
        var instance = PrepareInstance(fs, Text);
        var output = Path.Combine(fs.Root, "out.txt");

        var rc = Invoke("--tracefs", fs.Root, "--no-trace-cmd", "-o", output, "--", "/bin/true");

        Assert.Equal(0, rc);
        Assert.Equal(File.ReadAllText(Path.Combine(instance, "trace")), File.ReadAllText(output));
        Assert.All(Directory.EnumerateFiles(Path.Combine(instance, "events"), "enable", SearchOption.AllDirectories),
            f => Assert.Equal("0", File.ReadAllText(f)));
        Assert.Equal("0", File.ReadAllText(Path.Combine(instance, "tracing_on")));
        var lines = fs.KprobeLines();
        var added = lines.Count(l => !l.StartsWith("-:", StringComparison.Ordinal));
        Assert.True(added > 0);
        Assert.Equal(added, lines.Count(l => l.StartsWith("-:kprobes/", StringComparison.Ordinal)));
    }

    [Fact]
    public void Probes_are_removed_when_the_recording_fails()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        // No instance `trace` file: copying the recording fails after the command ran.
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);

        Assert.ThrowsAny<IOException>(() => Invoke("--tracefs", fs.Root, "--no-trace-cmd", "-o", Path.Combine(fs.Root, "out.txt"), "--", "/bin/true"));

        var lines = fs.KprobeLines();
        Assert.Equal(lines.Count(l => !l.StartsWith("-:", StringComparison.Ordinal)), lines.Count(l => l.StartsWith("-:kprobes/", StringComparison.Ordinal)));
    }

    [Fact]
    public void Print_script_needs_no_tracefs_and_prints_the_recorder()
    {
        var writer = new StringWriter();
        var original = Console.Out;
        Console.SetOut(writer);
        try
        {
            Assert.Equal(0, Invoke("--print-script"));
        }
        finally
        {
            Console.SetOut(original);
        }

        Assert.Equal(IommuSan.Recording.RecordScript.Generate(), writer.ToString());
    }

    [Fact]
    public void Record_without_a_command_is_a_usage_error()
    {
        Assert.Equal(2, Invoke("-o", "x.dat"));
    }
}
