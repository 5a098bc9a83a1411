using IommuSan.Recording;

namespace IommuSan.Tests.Recording;

/// <summary>`iommusan record` removes exactly the probes it added and never anyone else's.</summary>
public sealed class KprobeCleanupTests
{
    private static RecordingPlan Plan612(FakeTracefs fs) =>
        RecordingPlan.Create(TracefsFeatures.Load(fs.Root), KprobeArchitecture.X86_64, KprobeMode.Auto);

    [Fact]
    public void Every_added_probe_is_removed_on_dispose_newest_first()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        var plan = Plan612(fs);
        using (var session = new KprobeSession(fs.Root))
        {
            Assert.Empty(session.AddAll(plan.Probes));
            Assert.Equal(plan.Probes.Select(p => p.Name), session.Added);
            Assert.Equal(plan.Probes.Select(p => p.Line), fs.KprobeLines());
        }

        var removals = fs.KprobeLines().Skip(plan.Probes.Count);
        Assert.Equal(plan.Probes.Reverse().Select(p => "-:kprobes/" + p.Name), removals);
    }

    [Fact]
    public void A_probe_that_already_existed_is_used_but_not_removed()
    {
        const string Theirs = "p:kprobes/__iommu_map __iommu_map domain=%di iova=%si\n";
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions, existingKprobes: Theirs);
        var plan = Plan612(fs);
        using (var session = new KprobeSession(fs.Root))
        {
            session.AddAll(plan.Probes);
            Assert.Contains("__iommu_map", session.Available);
            Assert.DoesNotContain("__iommu_map", session.Added);
        }

        var lines = fs.KprobeLines();
        Assert.Equal(Theirs.TrimEnd('\n'), lines[0]);
        Assert.DoesNotContain("-:kprobes/__iommu_map", lines);
        Assert.Contains("-:kprobes/__iommu_unmap", lines);
    }

    [Fact]
    public void Cleanup_runs_when_the_recording_throws()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        var plan = Plan612(fs);

        void RecordAndFail()
        {
            using var session = new KprobeSession(fs.Root);
            session.AddAll(plan.Probes);
            throw new InvalidOperationException("the traced command could not start");
        }

        Assert.Throws<InvalidOperationException>(RecordAndFail);

        Assert.Equal(plan.Probes.Count, fs.KprobeLines().Count(l => l.StartsWith("-:kprobes/", StringComparison.Ordinal)));
    }
}
