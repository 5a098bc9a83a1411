namespace IommuSan.Trace.Formats;

/// <summary>How a field's bytes are laid out in an event payload.</summary>
internal enum FieldLayout
{
    /// <summary>An integer of <see cref="FormatField.Size"/> bytes at the offset (1, 2, 4 or 8).</summary>
    Scalar,

    /// <summary>A fixed-size array (<c>char comm[16]</c>, <c>u64 addrs[4]</c>); <c>char[]</c> arrays are strings.</summary>
    FixedArray,

    /// <summary>A <c>__data_loc</c> field: a u32 at the offset holding (length &lt;&lt; 16 | offset-from-payload-start).</summary>
    DataLoc,

    /// <summary>A <c>__rel_loc</c> field: like DataLoc but the offset counts from the end of this u32.</summary>
    RelLoc,

    /// <summary>A trailing variable-length array (<c>char buf[]</c>, size 0): runs to the end of the payload.</summary>
    Trailing,
}

/// <summary>
/// One <c>field:</c> line of an event's format file
/// (/sys/kernel/tracing/events/SYSTEM/EVENT/format), e.g.
/// <c>field:__data_loc u64[] phys_addrs; offset:24; size:4; signed:0;</c>.
/// </summary>
/// <param name="Name">Field name as the kernel declares it (<c>iova</c>, <c>common_pid</c>).</param>
/// <param name="Type">The C type text before the name (<c>u64</c>, <c>__data_loc char[]</c>).</param>
/// <param name="Offset">Byte offset from the start of the payload (common fields included).</param>
/// <param name="Size">Byte size the format file declares (4 for a __data_loc word).</param>
/// <param name="IsSigned">The format file's <c>signed:</c> flag.</param>
/// <param name="Layout">How the bytes are laid out.</param>
/// <param name="ElementSize">For arrays: the size of one element (1 for char), else equal to Size.</param>
internal sealed record FormatField(
    string Name,
    string Type,
    int Offset,
    int Size,
    bool IsSigned,
    FieldLayout Layout,
    int ElementSize)
{
    /// <summary><c>char</c> arrays (fixed, __data_loc, trailing) are NUL-terminated strings.</summary>
    public bool IsString => Layout != FieldLayout.Scalar && ElementSize == 1 && Type.Contains("char", StringComparison.Ordinal);

    /// <summary>Common fields (<c>common_type</c>, <c>common_pid</c>, ...) are in every event's header.</summary>
    public bool IsCommon => Name.StartsWith("common_", StringComparison.Ordinal);
}
