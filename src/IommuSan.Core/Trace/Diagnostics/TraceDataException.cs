namespace IommuSan.Trace.Diagnostics;

/// <summary>
/// Unrecoverable bad data in a trace the user gave us (never a bug of ours, never API misuse).
/// Carries where it was found so the CLI can print one line such as
/// <c>trace.dat: byte 0x1f40 (cpu 1): sub-buffer data length 9000 exceeds page size 4096</c>.
/// </summary>
internal sealed class TraceDataException : Exception
{
    public TraceDataException(string file, string problem, long? byteOffset = null, long? line = null, int? cpu = null, Exception? inner = null)
        : base(Format(file, problem, byteOffset, line, cpu), inner)
    {
        File = file;
        Problem = problem;
        ByteOffset = byteOffset;
        Line = line;
        Cpu = cpu;
    }

    /// <summary>The file as the user named it.</summary>
    public string File { get; }

    /// <summary>What was wrong, without the location.</summary>
    public string Problem { get; }

    /// <summary>Byte offset in the (decompressed) file where the problem was found, if known.</summary>
    public long? ByteOffset { get; }

    /// <summary>1-based line number for text traces, if known.</summary>
    public long? Line { get; }

    /// <summary>The CPU whose ring-buffer data was being read, if any.</summary>
    public int? Cpu { get; }

    private static string Format(string file, string problem, long? byteOffset, long? line, int? cpu)
    {
        var where = line is { } l ? $"line {l}" : byteOffset is { } o ? $"byte {o} (0x{o:x})" : null;
        var cpuText = cpu is { } c ? $" (cpu {c})" : string.Empty;
        return where is null ? $"{file}{cpuText}: {problem}" : $"{file}: {where}{cpuText}: {problem}";
    }
}
