using IommuSan.Trace.Dat;
using IommuSan.Model;
using IommuSan.Reporting;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Events;
using IommuSan.Trace.Records;

namespace IommuSan.Replay;

/// <summary>
/// <c>check</c> on one trace: reads the events the check needs (everything else is skipped by the
/// source's <see cref="EventFilter"/>), replays them into the model and builds the report.
/// </summary>
internal static class TraceChecker
{
    /// <summary>Progress is reported every this many events (and at the end).</summary>
    public const int ProgressInterval = 16384;

    public static CheckReport Check(
        ITraceSource source,
        CheckOptions options,
        Func<CheckOptions, ISanitizerDriver> createModel,
        string toolVersion,
        Action<long, long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(createModel);

        // trace.dat records the CPU page size; text traces do not, so the option (default 4K) stands.
        var pageSizeFromTrace = source.CpuPageShift is not null;
        if (source.CpuPageShift is { } shift)
        {
            if (shift is not (PageSize.Shift4K or PageSize.Shift16K or PageSize.Shift64K))
            {
                // The reader accepts any power of two; the model (like Linux on the IOMMU architectures) knows 4K, 16K, 64K.
                throw new TraceDataException(source.Path,
                    $"CPU page size {1L << shift} in the header is not one IommuSan models (4096, 16384 or 65536)",
                    byteOffset: (source as TraceDatReader)?.PageSizeFieldOffset);
            }

            options = options with { CpuPageShift = shift };
        }

        var replayer = new Replayer(options, createModel(options));
        var decoder = new CheckEventDecoder();
        var filter = CheckEventDecoder.CreateFilter(source.Formats);
        long n = 0;
        foreach (var e in source.ReadEvents(filter, cancellationToken))
        {
            if (decoder.TryDecode(e, out var decoded))
            {
                replayer.Add(decoded);
            }

            if (++n % ProgressInterval == 0)
            {
                progress?.Invoke(source.Position, source.Length);
            }
        }

        var result = replayer.Finish();
        progress?.Invoke(source.Length, source.Length);

        var diagnostics = new List<Diagnostic>(source.Diagnostics.ToList());
        diagnostics.AddRange(replayer.Diagnostics.ToList());
        MarkDataLoss(result, diagnostics);
        return CheckReportBuilder.Build(result, source.Path, source.Kind, source.CpuCount, options, pageSizeFromTrace, diagnostics, toolVersion);
    }

    // Lost events before a finding could have hidden the unmap that would have made it harmless
    // (or the map that explains a count): say so on every finding they precede.
    private static void MarkDataLoss(ReplayResult result, List<Diagnostic> diagnostics)
    {
        foreach (var d in diagnostics)
        {
            if (d.Kind.Severity != Severity.DataLoss)
            {
                continue;
            }

            var label = d.Cpu is { } cpu ? $"{d.Kind.Id} (cpu {cpu})" : d.Kind.Id;
            foreach (var f in result.Findings)
            {
                if ((d.FirstTimeNs is null || d.FirstTimeNs <= f.Event.TimeNs) && !f.PossiblyAffectedBy.Contains(label))
                {
                    f.PossiblyAffectedBy.Add(label);
                }
            }
        }
    }
}
