using System.Diagnostics;
using IommuSan.Recording;

namespace IommuSan.Tests.Recording;

/// <summary>
/// The POSIX sh recorder (`iommusan record --print-script`): valid sh, identical to the copy the
/// capture harness ships and records with, and run for real under dash against fake tracefs
/// trees with a fake `uname` to see which kprobes it adds and that it removes them again.
/// </summary>
public sealed class RecordScriptTests
{
    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "IommuSan.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("repository root (IommuSan.slnx) not found above " + AppContext.BaseDirectory);
    }

    private static string Shell() => File.Exists("/bin/dash") ? "/bin/dash" : "/bin/sh";

    private static (int ExitCode, string Stderr) RunShell(string workDir, string pathPrefix, params string[] args)
    {
        var start = new ProcessStartInfo(Shell()) { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = workDir };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["PATH"] = pathPrefix + ":/usr/bin:/bin";
        using var p = Process.Start(start)!;
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "script did not finish");
        return (p.ExitCode, stderr.Result);
    }

    /// <summary>Runs the generated script on <paramref name="fs"/> as if `uname -m` said <paramref name="machine"/>.</summary>
    private static (int ExitCode, string Stderr) RunScript(FakeTracefs fs, string machine)
    {
        var bin = Path.Combine(fs.Root, "fakebin");
        Directory.CreateDirectory(bin);
        var uname = Path.Combine(bin, "uname");
        File.WriteAllText(uname, $"#!/bin/sh\necho {machine}\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(uname, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var script = Path.Combine(fs.Root, "record.sh");
        File.WriteAllText(script, RecordScript.Generate());
        return RunShell(fs.Root, bin, script, "-t", fs.Root, "-m", "tracefs", "-k", "yes", "-o", Path.Combine(fs.Root, "out.txt"), "--", "true");
    }

    [Fact]
    public void Shipped_capture_script_is_the_print_script_output()
    {
        var shipped = File.ReadAllText(Path.Combine(RepoRoot(), "capture", "iommusan-record.sh"));
        Assert.Equal(RecordScript.Generate(), shipped);
    }

    [Fact]
    public void Script_passes_the_shell_syntax_check()
    {
        var path = Path.Combine(Path.GetTempPath(), "iommusan-record-" + Guid.NewGuid().ToString("N") + ".sh");
        File.WriteAllText(path, RecordScript.Generate());
        try
        {
            var (rc, stderr) = RunShell(Path.GetTempPath(), "/nonexistent", "-n", path);
            Assert.True(rc == 0, stderr);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void On_x86_64_the_script_adds_the_probes_with_x86_registers_then_removes_them()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        var (_, stderr) = RunScript(fs, "x86_64");

        var lines = fs.KprobeLines();
        var expected = RecordingPlan.Create(TracefsFeatures.Load(fs.Root), KprobeArchitecture.X86_64, KprobeMode.Auto).Probes;
        Assert.True(expected.Select(p => p.Line).SequenceEqual(lines.Take(expected.Count)), stderr);
        Assert.Contains("p:kprobes/__iommu_map __iommu_map domain=%di iova=%si paddr=%dx size=%cx prot=%r8", lines);
        Assert.Equal(expected.Select(p => "-:kprobes/" + p.Name).Order(), lines.Skip(expected.Count).Order());
    }

    [Fact]
    public void On_arm64_the_script_adds_the_probes_with_x0_to_x4()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        var (_, stderr) = RunScript(fs, "aarch64");

        var lines = fs.KprobeLines();
        Assert.Contains("p:kprobes/__iommu_map __iommu_map domain=%x0 iova=%x1 paddr=%x2 size=%x3 prot=%x4", lines);
        Assert.Contains("p:kprobes/iommu_dma_unmap_page iommu_dma_unmap_page dev=+0(+0(%x0)):string iova=%x1 size=%x2 dir=%x3", lines);
        Assert.True(!lines.Any(l => l.Contains("%di", StringComparison.Ordinal)), stderr);
    }

    [Fact]
    public void On_linux_7_the_script_picks_iommu_map_nosync_like_the_command_does()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux70Functions);
        RunScript(fs, "x86_64");

        var added = fs.KprobeLines().Where(l => !l.StartsWith("-:", StringComparison.Ordinal));
        var expected = RecordingPlan.Create(TracefsFeatures.Load(fs.Root), KprobeArchitecture.X86_64, KprobeMode.Auto).Probes;
        Assert.Equal(expected.Select(p => p.Line), added);
        Assert.Contains("p:kprobes/__iommu_map iommu_map_nosync domain=%di iova=%si paddr=%dx size=%cx prot=%r8", added);
    }

    [Fact]
    public void The_script_leaves_a_probe_it_did_not_add()
    {
        const string Theirs = "p:kprobes/__iommu_unmap __iommu_unmap domain=%di iova=%si size=%dx";
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions, existingKprobes: Theirs + "\n");
        RunScript(fs, "x86_64");

        var lines = fs.KprobeLines();
        Assert.Equal(Theirs, lines[0]);
        Assert.Single(lines, l => l.StartsWith("p:kprobes/__iommu_unmap ", StringComparison.Ordinal));
        Assert.DoesNotContain("-:kprobes/__iommu_unmap", lines);
        Assert.Contains("-:kprobes/__iommu_map", lines);
    }

    [Fact]
    public void Interrupted_recording_still_removes_the_probes()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        var bin = Path.Combine(fs.Root, "fakebin");
        Directory.CreateDirectory(bin);
        File.WriteAllText(Path.Combine(bin, "uname"), "#!/bin/sh\necho x86_64\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Path.Combine(bin, "uname"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var script = Path.Combine(fs.Root, "record.sh");
        File.WriteAllText(script, RecordScript.Generate());

        // The recorded command sends SIGINT to the recorder, as Ctrl-C in a terminal would.
        var (rc, stderr) = RunShell(fs.Root, bin, script, "-t", fs.Root, "-m", "tracefs", "-k", "yes", "-o", Path.Combine(fs.Root, "out.txt"),
            "--", "/bin/sh", "-c", "kill -INT $PPID");

        Assert.True(rc == 130, $"exit {rc}: {stderr}");
        var lines = fs.KprobeLines();
        var added = lines.Where(l => !l.StartsWith("-:", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(added);
        Assert.Equal(added.Count, lines.Count(l => l.StartsWith("-:kprobes/", StringComparison.Ordinal)));
    }

    [Fact]
    public void Unknown_architecture_with_kprobes_required_fails_without_touching_kprobe_events()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        var (rc, stderr) = RunScript(fs, "riscv64");

        Assert.Equal(2, rc);
        Assert.Contains("riscv64", stderr, StringComparison.Ordinal);
        Assert.Empty(fs.KprobeLines());
    }
}
