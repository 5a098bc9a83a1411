using IommuSan.Recording;

namespace IommuSan.Tests.Recording;

/// <summary>What gets recorded depends on what the running kernel's tracefs offers.</summary>
public sealed class RecordingPlanFeatureDetectionTests
{
    [Fact]
    public void Linux_6_12_x86_64_records_iommu_dma_kmem_and_probes_iommu_map_with_x86_registers()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        var plan = RecordingPlan.Create(TracefsFeatures.Load(fs.Root), KprobeArchitecture.X86_64, KprobeMode.Auto);

        Assert.Equal(
            ["iommu", "dma", "kmem:mm_page_alloc", "kmem:mm_page_free", "kmem:mm_page_free_batched", "kmem:kmalloc", "kmem:kfree"],
            plan.Events);
        Assert.DoesNotContain("sched", plan.Events);
        Assert.Contains(plan.Probes, p => p.Line == "p:kprobes/__iommu_map __iommu_map domain=%di iova=%si paddr=%dx size=%cx prot=%r8");
        Assert.Contains(plan.Probes, p => p.Line == "r10:kprobes/__iommu_unmap_ret __iommu_unmap unmapped=$retval");
        Assert.Contains(plan.Probes, p => p.Line == "p:kprobes/iommu_dma_map_page iommu_dma_map_page dev=+0(+0(%di)):string page=%si offset=%dx size=%cx dir=%r8");
        Assert.DoesNotContain(plan.Probes, p => p.Function == "iommu_map_nosync" || p.Function == "iommu_dma_map_phys");
        Assert.Empty(plan.Notes);
    }

    [Fact]
    public void Linux_6_12_probe_definitions_match_the_shared_capture()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        var plan = RecordingPlan.Create(TracefsFeatures.Load(fs.Root), KprobeArchitecture.X86_64, KprobeMode.Auto);

        // The kprobe_events the shared kprobes capture was recorded with, line for line.
        var shared = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "samples", "kprobes-page_uaf-clean", "kprobe_events.txt"));
        Assert.Equal(shared, plan.Probes.Select(p => p.Line));
    }

    [Fact]
    public void Arm64_probes_take_arguments_from_x0_to_x4()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        var plan = RecordingPlan.Create(TracefsFeatures.Load(fs.Root), KprobeArchitecture.Arm64, KprobeMode.Auto);

        Assert.Contains(plan.Probes, p => p.Line == "p:kprobes/__iommu_map __iommu_map domain=%x0 iova=%x1 paddr=%x2 size=%x3 prot=%x4");
        Assert.Contains(plan.Probes, p => p.Line == "p:kprobes/__iommu_attach_device __iommu_attach_device domain=%x0 dev=+0(+0(%x1)):string");
        Assert.DoesNotContain(plan.Probes, p => p.Line.Contains("%di", StringComparison.Ordinal));
    }

    [Fact]
    public void Linux_7_probes_iommu_map_nosync_and_the_phys_dma_functions_under_the_same_event_names()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux70Functions);
        var plan = RecordingPlan.Create(TracefsFeatures.Load(fs.Root), KprobeArchitecture.X86_64, KprobeMode.Auto);

        Assert.Contains(plan.Probes, p => p.Line == "p:kprobes/__iommu_map iommu_map_nosync domain=%di iova=%si paddr=%dx size=%cx prot=%r8");
        Assert.Contains(plan.Probes, p => p.Line == "r10:kprobes/__iommu_map_ret iommu_map_nosync ret=$retval:s32");
        Assert.Contains(plan.Probes, p => p.Name == "iommu_dma_map_phys");
        Assert.DoesNotContain(plan.Probes, p => p.Name == "iommu_dma_map_page");
        Assert.Single(plan.Probes, p => p.Name == "__iommu_map");
    }

    [Fact]
    public void Kernel_before_6_12_has_no_dma_events_and_says_so()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux66Events, FakeTracefs.Linux612Functions);
        var plan = RecordingPlan.Create(TracefsFeatures.Load(fs.Root), KprobeArchitecture.X86_64, KprobeMode.Auto);

        Assert.DoesNotContain("dma", plan.Events);
        Assert.Contains(plan.Notes, n => n.Contains("dma:*", StringComparison.Ordinal));
        Assert.Contains(plan.Probes, p => p.Name == "iommu_dma_map_page");
    }

    [Fact]
    public void Functions_listed_with_their_module_are_found()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, ["__iommu_map [iommu_core]", "__iommu_unmap [iommu_core]"]);
        var plan = RecordingPlan.Create(TracefsFeatures.Load(fs.Root), KprobeArchitecture.X86_64, KprobeMode.Auto);

        Assert.Equal(["__iommu_map", "__iommu_map_ret", "__iommu_unmap", "__iommu_unmap_ret"], plan.Probes.Select(p => p.Name));
    }

    [Fact]
    public void Kernel_without_kprobe_events_records_tracepoints_only_unless_kprobes_are_required()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions, kprobeEvents: false);
        var features = TracefsFeatures.Load(fs.Root);

        var plan = RecordingPlan.Create(features, KprobeArchitecture.X86_64, KprobeMode.Auto);
        Assert.Empty(plan.Probes);
        Assert.Contains(plan.Notes, n => n.Contains("CONFIG_KPROBE_EVENTS", StringComparison.Ordinal));
        Assert.Throws<InvalidOperationException>(() => RecordingPlan.Create(features, KprobeArchitecture.X86_64, KprobeMode.Yes));
    }

    [Fact]
    public void Unreadable_function_list_means_no_kprobes_and_a_note()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        File.Delete(Path.Combine(fs.Root, "available_filter_functions"));
        var plan = RecordingPlan.Create(TracefsFeatures.Load(fs.Root), KprobeArchitecture.X86_64, KprobeMode.Auto);

        Assert.Empty(plan.Probes);
        Assert.Contains(plan.Notes, n => n.Contains("available_filter_functions", StringComparison.Ordinal));
        Assert.Contains("iommu", plan.Events);
    }

    [Fact]
    public void Unknown_architecture_gets_no_kprobes()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        var plan = RecordingPlan.Create(TracefsFeatures.Load(fs.Root), KprobeArchitecture.FromMachine("riscv64"), KprobeMode.Auto);

        Assert.Empty(plan.Probes);
        Assert.NotEmpty(plan.Events);
    }

    [Fact]
    public void Kprobes_off_means_no_probe_even_when_possible()
    {
        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        var plan = RecordingPlan.Create(TracefsFeatures.Load(fs.Root), KprobeArchitecture.X86_64, KprobeMode.No);

        Assert.Empty(plan.Probes);
    }

    [Fact]
    public void Directory_without_available_events_is_not_tracefs()
    {
        var dir = Directory.CreateTempSubdirectory("iommusan-not-tracefs");
        try
        {
            var ex = Assert.Throws<IOException>(() => TracefsFeatures.Load(dir.FullName));
            Assert.Contains("available_events", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(true);
        }
    }
}
