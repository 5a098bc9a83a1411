using System.Buffers.Binary;
using System.Text;
using IommuSan.Trace.Formats;

namespace IommuSan.Trace.Records;

/// <summary>
/// Lays out an event payload the way the kernel would for a given <see cref="EventFormat"/>:
/// text readers rebuild payloads from printed fields with it, and tests and the trace.dat writer
/// make synthetic events with it. Dynamic (__data_loc) data is appended after the fixed part,
/// 4-byte aligned, as the kernel's trace_event_raw layout does.
/// </summary>
internal sealed class PayloadBuilder
{
    private readonly EventFormat _format;
    private readonly ScalarSlot _commonPid;
    private readonly int _fixedEnd;

    // The fixed part of an empty payload (zeros and common_type): Reset copies it instead of
    // clearing and setting field by field (it runs once per decoded text line).
    private readonly byte[] _blank;
    private byte[] _buffer;
    private int _dynamicEnd;

    public PayloadBuilder(EventFormat format)
    {
        _format = format;
        _fixedEnd = Align4(format.PayloadSize);
        _buffer = new byte[Math.Max(256, _fixedEnd)];
        _dynamicEnd = _fixedEnd;
        TrySet(format.IndexOf("common_type"), (ulong)format.Id);
        _blank = _buffer.AsSpan(0, _fixedEnd).ToArray();
        _commonPid = SlotOf(format.IndexOf("common_pid"));
        Reset(0);
    }

    public EventFormat Format => _format;

    /// <summary>Starts a new payload: zeroes the fixed part and writes common_type and common_pid.</summary>
    public PayloadBuilder Reset(int pid)
    {
        if (_dynamicEnd > _fixedEnd)
        {
            Array.Clear(_buffer, _fixedEnd, _dynamicEnd - _fixedEnd);
        }

        _blank.CopyTo(_buffer, 0);
        _dynamicEnd = _fixedEnd;
        SetScalar(_commonPid, (uint)pid);
        return this;
    }

    /// <summary>Where a scalar field's bytes are, resolved once so hot paths skip the field lookup
    /// (<see cref="ScalarSlot.None"/> for a missing or non-scalar field: writes to it are ignored).</summary>
    public ScalarSlot SlotOf(int fieldIndex)
    {
        var fields = _format.Fields;
        if ((uint)fieldIndex >= (uint)fields.Length || fields[fieldIndex].Layout != FieldLayout.Scalar)
        {
            return ScalarSlot.None;
        }

        return new ScalarSlot(fields[fieldIndex].Offset, fields[fieldIndex].Size);
    }

    /// <summary>Sets a scalar field through its <see cref="SlotOf"/> slot (ignored for <see cref="ScalarSlot.None"/>).</summary>
    public void SetScalar(ScalarSlot slot, ulong value)
    {
        if (slot.Size != 0)
        {
            WriteInteger(_buffer.AsSpan(slot.Offset, slot.Size), slot.Size, value);
        }
    }

    /// <summary>Sets a scalar field; false when the format has no such field (it is then ignored).</summary>
    public bool TrySet(string name, ulong value)
    {
        var f = _format.Find(name);
        if (f is null || f.Layout != FieldLayout.Scalar)
        {
            return false;
        }

        WriteInteger(_buffer.AsSpan(f.Offset, f.Size), f.Size, value);
        return true;
    }

    /// <summary>Sets a scalar field by index (no name lookup: for readers' hot paths); false for non-scalars.</summary>
    public bool TrySet(int fieldIndex, ulong value)
    {
        var fields = _format.Fields;
        if ((uint)fieldIndex >= (uint)fields.Length || fields[fieldIndex].Layout != FieldLayout.Scalar)
        {
            return false;
        }

        var f = fields[fieldIndex];
        WriteInteger(_buffer.AsSpan(f.Offset, f.Size), f.Size, value);
        return true;
    }

    /// <summary>Sets an integer array field by index from element values, without allocating.</summary>
    public PayloadBuilder SetArray(int fieldIndex, ReadOnlySpan<ulong> values)
    {
        var f = _format.Fields[fieldIndex];
        var length = values.Length * f.ElementSize;
        var dest = ReserveBytes(fieldIndex, length);
        for (var i = 0; i < values.Length; i++)
        {
            WriteInteger(dest.Slice(i * f.ElementSize, f.ElementSize), f.ElementSize, values[i]);
        }

        return this;
    }

    public PayloadBuilder Set(string name, ulong value)
    {
        if (!TrySet(name, value))
        {
            throw new ArgumentException($"{_format} has no scalar field '{name}'", nameof(name));
        }

        return this;
    }

    /// <summary>Sets a string field (fixed char array, __data_loc char[] or trailing char[]), NUL-terminated.</summary>
    public PayloadBuilder SetString(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var bytes = new byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, bytes);
        return SetBytes(name, bytes);
    }

    /// <summary>Sets an integer array field (fixed or dynamic) from element values.</summary>
    public PayloadBuilder SetArray(string name, ReadOnlySpan<ulong> values)
    {
        var f = _format.Find(name) ?? throw new ArgumentException($"{_format} has no field '{name}'", nameof(name));
        var bytes = new byte[values.Length * f.ElementSize];
        for (var i = 0; i < values.Length; i++)
        {
            WriteInteger(bytes.AsSpan(i * f.ElementSize, f.ElementSize), f.ElementSize, values[i]);
        }

        return SetBytes(name, bytes);
    }

    /// <summary>Sets the raw bytes of an array or string field.</summary>
    public PayloadBuilder SetBytes(string name, ReadOnlySpan<byte> bytes)
    {
        var index = _format.IndexOf(name);
        if (index < 0)
        {
            throw new ArgumentException($"{_format} has no field '{name}'", nameof(name));
        }

        return SetBytes(index, bytes);
    }

    /// <summary>
    /// Whether <paramref name="length"/> more bytes fit the field: a __data_loc word holds a 16-bit offset and
    /// length, so no kernel payload can carry more. Text readers check this before rebuilding a printed value
    /// that a corrupt line made too long, and treat the event as unparsable instead.
    /// </summary>
    public bool Fits(int fieldIndex, int length)
    {
        var f = _format.Fields[fieldIndex];
        return f.Layout switch
        {
            FieldLayout.DataLoc or FieldLayout.RelLoc => length <= ushort.MaxValue && _dynamicEnd + length <= ushort.MaxValue,
            FieldLayout.Trailing => f.Offset + length <= MaxTrailingPayload,
            _ => true,
        };
    }

    /// <summary>A payload never exceeds a ring-buffer sub-buffer; 1 MiB is the largest the kernel allows.</summary>
    private const int MaxTrailingPayload = 1 << 20;

    /// <summary>Sets the raw bytes of an array or string field by index.</summary>
    public PayloadBuilder SetBytes(int fieldIndex, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(ReserveBytes(fieldIndex, bytes.Length));
        return this;
    }

    // Makes room for `length` bytes of an array or string field and returns where to write them
    // (a fixed array is cut to its declared size).
    private Span<byte> ReserveBytes(int fieldIndex, int length)
    {
        var f = _format.Fields[fieldIndex];
        switch (f.Layout)
        {
            case FieldLayout.FixedArray:
                return _buffer.AsSpan(f.Offset, Math.Min(length, f.Size));
            case FieldLayout.Trailing:
                EnsureCapacity(Align4(f.Offset + length));
                _dynamicEnd = Math.Max(_dynamicEnd, Align4(f.Offset + length));
                return _buffer.AsSpan(f.Offset, length);
            case FieldLayout.DataLoc:
            case FieldLayout.RelLoc:
                if (length > ushort.MaxValue)
                {
                    throw new ArgumentException("dynamic field longer than 65535 bytes", nameof(length));
                }

                var start = _dynamicEnd;
                EnsureCapacity(Align4(start + length));
                _dynamicEnd = Align4(start + length);
                var locOffset = f.Layout == FieldLayout.RelLoc ? start - (f.Offset + 4) : start;
                WriteInteger(_buffer.AsSpan(f.Offset, 4), 4, ((ulong)length << 16) | (uint)locOffset);
                return _buffer.AsSpan(start, length);
            default:
                throw new ArgumentException($"field '{f.Name}' of {_format} is a scalar", nameof(fieldIndex));
        }
    }

    /// <summary>The payload built so far (a copy, safe to keep).</summary>
    public byte[] ToArray() => _buffer.AsSpan(0, _dynamicEnd).ToArray();

    /// <summary>The payload built so far, without copying; valid until the next Reset.</summary>
    public ReadOnlyMemory<byte> AsMemory() => _buffer.AsMemory(0, _dynamicEnd);

    private void WriteInteger(Span<byte> dest, int size, ulong value)
    {
        var big = _format.IsBigEndian;
        if (size == 8 && !big)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(dest, value); // pointers, addresses, sizes: the common case first
            return;
        }

        switch (size)
        {
            case 1: dest[0] = (byte)value; break;
            case 2: if (big) { BinaryPrimitives.WriteUInt16BigEndian(dest, (ushort)value); } else { BinaryPrimitives.WriteUInt16LittleEndian(dest, (ushort)value); } break;
            case 4: if (big) { BinaryPrimitives.WriteUInt32BigEndian(dest, (uint)value); } else { BinaryPrimitives.WriteUInt32LittleEndian(dest, (uint)value); } break;
            case 8: if (big) { BinaryPrimitives.WriteUInt64BigEndian(dest, value); } else { BinaryPrimitives.WriteUInt64LittleEndian(dest, value); } break;
            default: throw new ArgumentOutOfRangeException(nameof(size), size, "integer fields are 1, 2, 4 or 8 bytes");
        }
    }

    private void EnsureCapacity(int size)
    {
        if (size > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(size, _buffer.Length * 2));
        }
    }

    private static int Align4(int n) => (n + 3) & ~3;
}

/// <summary>Offset and size of a scalar field in a payload; <see cref="None"/> (size 0) writes nothing.</summary>
internal readonly record struct ScalarSlot(int Offset, int Size)
{
    public static ScalarSlot None => default;
}
