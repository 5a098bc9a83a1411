using System.Globalization;

namespace IommuSan.Reporting;

/// <summary>How the CLI may style a line (colour only on a terminal).</summary>
internal enum TextStyle
{
    Plain,
    CutHere,
    Warning,
    Label,
    Dim,
    Info,
    SummaryOk,
    SummaryFail,
}

/// <summary>One line of the text report with its style; the CLI does the writing.</summary>
internal readonly record struct TextLine(TextStyle Style, string Text);

/// <summary>
/// The text report a kernel developer recognises: a WARN-like block per finding (cut-here header,
/// the event, every mapping still covering the page, the page owner, the later history), then
/// ambiguous unmaps, diagnostics and a one-line summary. Pure data, so it can be golden-tested.
/// </summary>
internal static class TextReport
{
    /// <summary>Later events printed per finding before "... N more".</summary>
    public const int MaxLaterEventsShown = 8;

    public static List<TextLine> Render(CheckReport report, bool showLive = false)
    {
        ArgumentNullException.ThrowIfNull(report);
        var lines = new List<TextLine>();
        void Add(TextStyle style, string text) => lines.Add(new TextLine(style, text));

        Add(TextStyle.Dim, $"iommusan check {report.Trace.Path} ({report.Trace.Kind}, {report.Trace.CpuPageSize / 1024}K CPU pages, mode {report.Mode})");
        foreach (var f in report.Findings)
        {
            Add(TextStyle.Plain, string.Empty);
            Add(TextStyle.CutHere, "------------[ cut here ]------------");
            Add(TextStyle.Warning, $"WARNING: [{f.Kind}] {f.Message}");
            Add(TextStyle.Plain, $"  at {Time(f.TimeNs)}  {EventText(f.Event)}");
            foreach (var m in f.Mappings)
            {
                AddMapping(lines, m, "  mapping: ");
                Add(TextStyle.Plain, m.UnmappedAtNs is { } u
                    ? $"           unmapped at {Time(u)} by {m.UnmappedBy?.Comm}-{m.UnmappedBy?.Pid}: exposed for {Duration(u - f.TimeNs)} after the {f.Event.Event}"
                    : "           never unmapped in the trace: the device could still reach the page at the end");
            }

            if (f.Owner is { } o)
            {
                Add(TextStyle.Plain, $"  page owner: pfn {o.Pfn} order {o.Order} allocated at {Time(o.AllocatedAtNs)} by {o.Allocation.Comm}-{o.Allocation.Pid} on cpu {o.Allocation.Cpu}, gfp_flags {o.GfpFlags}");
            }
            else if (f.Kind == "page-leak")
            {
                Add(TextStyle.Dim, "  page owner: not seen (allocated before the trace started, or by the bulk allocator)");
            }

            if (f.LaterEventsTotal > 0)
            {
                Add(TextStyle.Label, $"  later, while still mapped ({f.LaterEventsTotal} event{(f.LaterEventsTotal == 1 ? string.Empty : "s")}):");
                foreach (var l in f.LaterEvents.Take(MaxLaterEventsShown))
                {
                    Add(TextStyle.Plain, $"    {Time(l.TimeNs)}  {l.Event} order={l.Order}  cpu {l.Cpu}  {l.Comm}-{l.Pid}");
                }

                if (f.LaterEventsTotal > MaxLaterEventsShown)
                {
                    Add(TextStyle.Dim, $"    ... {f.LaterEventsTotal - MaxLaterEventsShown} more (see --json)");
                }
            }

            foreach (var note in f.Notes)
            {
                Add(TextStyle.Dim, $"  note: {note}");
            }

            foreach (var a in f.PossiblyAffectedBy)
            {
                Add(TextStyle.Info, $"  possibly affected by data loss: {a}");
            }

            Add(TextStyle.CutHere, "---[ end trace ]---");
        }

        foreach (var a in report.Ambiguous)
        {
            Add(TextStyle.Plain, string.Empty);
            Add(TextStyle.Info, $"ambiguous: unmap of iova {a.Iova} size {a.Size} at {Time(a.Unmap.TimeNs)} ({a.Unmap.Comm}-{a.Unmap.Pid}, cpu {a.Unmap.Cpu}) matches {a.Candidates.Count} domains; pages {string.Join(", ", a.CandidatePfns)}; not a finding");
            foreach (var c in a.Candidates)
            {
                AddMapping(lines, c, "  candidate: ");
            }

            if (a.PageEventsInDoubtTotal > 0)
            {
                Add(TextStyle.Dim, $"  {a.PageEventsInDoubtTotal} page event(s) would be a page leak if the other mapping was the one removed");
            }

            if (a.Resolution is { } r)
            {
                Add(TextStyle.Dim, $"  resolved: {r}");
            }
        }

        if (report.LiveAtEnd.Count > 0)
        {
            Add(TextStyle.Plain, string.Empty);
            Add(TextStyle.Dim, $"{report.Summary.LiveAtEnd} mapping(s) still live at the end of the trace (informational, not a failure){(showLive ? ":" : "; --show-live lists them")}");
            if (showLive)
            {
                foreach (var m in report.LiveAtEnd)
                {
                    AddMapping(lines, m, "  live: ");
                }
            }
        }

        if (report.Diagnostics.Count > 0)
        {
            Add(TextStyle.Plain, string.Empty);
            foreach (var d in report.Diagnostics)
            {
                var cpu = d.Cpu is { } c ? $" cpu {c}" : string.Empty;
                Add(d.Severity == "info" ? TextStyle.Dim : TextStyle.Info, $"diagnostic: {d.Kind} ({d.Severity}{cpu}, {d.Count}x): {d.Detail}");
            }
        }

        Add(TextStyle.Plain, string.Empty);
        Add(report.Summary.Findings > 0 ? TextStyle.SummaryFail : TextStyle.SummaryOk, SummaryLine(report));
        return lines;
    }

    public static string SummaryLine(CheckReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var s = report.Summary;
        var kinds = string.Join(", ", s.ByKind.Where(k => k.Value > 0 && k.Key != "live-at-end").Select(k => $"{k.Key} {k.Value}"));
        var findings = s.Findings == 0 ? "no findings" : $"{s.Findings} finding{(s.Findings == 1 ? string.Empty : "s")} ({kinds})";
        var loss = s.DataLoss ? ", DATA LOSS" : string.Empty;
        return $"{report.Trace.Path}: {findings}, {s.Ambiguous} ambiguous, {s.LiveAtEnd} live at end, {s.Events} events, mode {report.Mode}{loss}";
    }

    private static void AddMapping(List<TextLine> lines, MappingDto m, string prefix)
    {
        var device = m.Device ?? "device unknown";
        var domain = m.Domain ?? m.DomainLabel;
        lines.Add(new TextLine(TextStyle.Label, $"{prefix}{device} domain {domain} iova {m.Iova}+0x{m.Size:x} -> paddr {m.Paddr}"));
        lines.Add(new TextLine(TextStyle.Plain, $"{new string(' ', prefix.Length)}mapped at {Time(m.MappedAtNs)} by {m.MappedBy.Comm}-{m.MappedBy.Pid} on cpu {m.MappedBy.Cpu} (domain from {m.Attribution})"));
    }

    private static string EventText(EventDto e) => $"{e.Event} {e.Detail}  cpu {e.Cpu}  {e.Comm}-{e.Pid}";

    /// <summary>Trace time as ftrace prints it: seconds.microseconds.</summary>
    public static string Time(long ns) => string.Create(CultureInfo.InvariantCulture, $"{ns / 1_000_000_000}.{ns % 1_000_000_000 / 1000:D6}");

    private static string Duration(long ns) => ns switch
    {
        < 0 => "0 ns (unmapped before)",
        < 1_000 => $"{ns} ns",
        < 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{ns / 1000} us"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{ns / 1_000_000}.{ns % 1_000_000 / 1000:D3} ms"),
    };
}
