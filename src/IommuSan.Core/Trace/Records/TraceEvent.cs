using System.Buffers.Binary;
using System.Text;
using IommuSan.Trace.Formats;

namespace IommuSan.Trace.Records;

/// <summary>
/// One trace event from any source (trace.dat, ftrace text, trace-cmd report, perf script):
/// when, where, who, and the raw payload laid out as <see cref="Format"/> describes.
/// Text readers rebuild a payload from the printed fields (see <see cref="PayloadBuilder"/>), so
/// every consumer decodes fields the same way whatever the source was.
/// The payload memory may be reused by the source: it is valid until the source yields the next event.
/// </summary>
internal readonly struct TraceEvent
{
    public TraceEvent(long timeNs, int cpu, int pid, string comm, EventFormat format, ReadOnlyMemory<byte> payload)
    {
        TimeNs = timeNs;
        Cpu = cpu;
        Pid = pid;
        Comm = comm;
        Format = format;
        Payload = payload;
    }

    /// <summary>Timestamp in integer nanoseconds on the trace clock (microsecond precision for ftrace text).</summary>
    public long TimeNs { get; }

    public int Cpu { get; }

    public int Pid { get; }

    /// <summary>Task name (from the text line, or trace.dat's saved cmdlines; "&lt;...&gt;" when unknown).</summary>
    public string Comm { get; }

    public EventFormat Format { get; }

    /// <summary>The whole payload, common fields included.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    public string System => Format.System;

    public string Name => Format.Name;

    /// <summary>The bytes of a field: the fixed bytes for scalars and fixed arrays, the referenced bytes
    /// for __data_loc/__rel_loc/trailing fields. False when the payload is too short or the location
    /// points outside it (corrupt data is never read past the payload).</summary>
    public bool TryGetFieldBytes(int fieldIndex, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        var fields = Format.Fields;
        if ((uint)fieldIndex >= (uint)fields.Length)
        {
            return false;
        }

        var f = fields[fieldIndex];
        var p = Payload.Span;
        switch (f.Layout)
        {
            case FieldLayout.Scalar:
            case FieldLayout.FixedArray:
                if (f.Offset + f.Size > p.Length)
                {
                    return false;
                }

                bytes = p.Slice(f.Offset, f.Size);
                return true;
            case FieldLayout.Trailing:
                if (f.Offset > p.Length)
                {
                    return false;
                }

                bytes = p[f.Offset..];
                return true;
            case FieldLayout.DataLoc:
            case FieldLayout.RelLoc:
                if (f.Offset + 4 > p.Length)
                {
                    return false;
                }

                var word = Format.IsBigEndian
                    ? BinaryPrimitives.ReadUInt32BigEndian(p[f.Offset..])
                    : BinaryPrimitives.ReadUInt32LittleEndian(p[f.Offset..]);
                var start = (int)(word & 0xffff);
                var length = (int)(word >> 16);
                if (f.Layout == FieldLayout.RelLoc)
                {
                    start += f.Offset + 4;
                }

                if (start + length > p.Length)
                {
                    return false;
                }

                bytes = p.Slice(start, length);
                return true;
            default:
                return false;
        }
    }

    /// <summary>A scalar field, zero-extended (sign-extended when the format says signed). 0 when absent or truncated.</summary>
    public ulong GetUInt64(int fieldIndex)
    {
        if (!TryGetFieldBytes(fieldIndex, out var b))
        {
            return 0;
        }

        var f = Format.Fields[fieldIndex];
        return ReadInteger(b, Math.Min(f.ElementSize, b.Length), f.IsSigned, Format.IsBigEndian);
    }

    /// <summary>A scalar field by name; false when the format has no such field or the payload is too short.</summary>
    public bool TryGetUInt64(string fieldName, out ulong value)
    {
        var i = Format.IndexOf(fieldName);
        value = 0;
        if (i < 0 || !TryGetFieldBytes(i, out var b))
        {
            return false;
        }

        value = GetUInt64(i);
        return b.Length > 0;
    }

    /// <summary>A char-array field as a string, up to its first NUL. Empty when absent.</summary>
    public string GetString(int fieldIndex)
    {
        if (!TryGetFieldBytes(fieldIndex, out var b))
        {
            return string.Empty;
        }

        var nul = b.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul >= 0 ? b[..nul] : b);
    }

    /// <summary>A string field by name; null when the format has no such field.</summary>
    public string? GetString(string fieldName)
    {
        var i = Format.IndexOf(fieldName);
        return i < 0 ? null : GetString(i);
    }

    /// <summary>Number of elements of an array field (fixed, dynamic or trailing).</summary>
    public int GetArrayLength(int fieldIndex)
    {
        var f = Format.Fields[fieldIndex];
        return TryGetFieldBytes(fieldIndex, out var b) ? b.Length / f.ElementSize : 0;
    }

    /// <summary>Element <paramref name="index"/> of an array field, zero-extended (sign-extended if signed).</summary>
    public ulong GetArrayElement(int fieldIndex, int index)
    {
        var f = Format.Fields[fieldIndex];
        if (!TryGetFieldBytes(fieldIndex, out var b) || (uint)index >= (uint)(b.Length / f.ElementSize))
        {
            throw new ArgumentOutOfRangeException(nameof(index));
        }

        return ReadInteger(b.Slice(index * f.ElementSize, f.ElementSize), f.ElementSize, f.IsSigned, Format.IsBigEndian);
    }

    internal static ulong ReadInteger(ReadOnlySpan<byte> b, int size, bool isSigned, bool bigEndian) => size switch
    {
        1 => isSigned ? (ulong)(sbyte)b[0] : b[0],
        2 => bigEndian
            ? (isSigned ? (ulong)BinaryPrimitives.ReadInt16BigEndian(b) : BinaryPrimitives.ReadUInt16BigEndian(b))
            : (isSigned ? (ulong)BinaryPrimitives.ReadInt16LittleEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b)),
        4 => bigEndian
            ? (isSigned ? (ulong)BinaryPrimitives.ReadInt32BigEndian(b) : BinaryPrimitives.ReadUInt32BigEndian(b))
            : (isSigned ? (ulong)BinaryPrimitives.ReadInt32LittleEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b)),
        8 => bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(b) : BinaryPrimitives.ReadUInt64LittleEndian(b),
        _ => 0,
    };

    public override string ToString() => $"{TimeNs} [{Cpu:000}] {Comm}-{Pid} {System}:{Name}";
}
