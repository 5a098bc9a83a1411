using System.Text;

namespace IommuSan.Trace.Events;

/// <summary>
/// Interns the short strings events carry (device names such as <c>0000:00:01.0</c>) from their
/// UTF-8 bytes, so decoding a dma event allocates nothing after a name's first sighting.
/// Bounded: a trace naming more than <see cref="MaxNames"/> distinct strings gets fresh strings
/// for the rest (correct, only slower), so hostile input cannot grow it without limit.
/// </summary>
internal sealed class DeviceNameTable
{
    public const int MaxNames = 4096;

    private readonly Dictionary<int, List<(byte[] Bytes, string Name)>> _byHash = [];
    private int _count;

    public string Intern(ReadOnlySpan<byte> utf8)
    {
        var nul = utf8.IndexOf((byte)0);
        if (nul >= 0)
        {
            utf8 = utf8[..nul];
        }

        var hash = Hash(utf8);
        if (_byHash.TryGetValue(hash, out var bucket))
        {
            foreach (var (bytes, name) in bucket)
            {
                if (utf8.SequenceEqual(bytes))
                {
                    return name;
                }
            }
        }

        var s = Encoding.UTF8.GetString(utf8);
        if (_count >= MaxNames)
        {
            return s;
        }

        if (bucket is null)
        {
            bucket = [];
            _byHash[hash] = bucket;
        }

        bucket.Add((utf8.ToArray(), s));
        _count++;
        return s;
    }

    // FNV-1a over the bytes: names are short and few, any decent spread will do.
    private static int Hash(ReadOnlySpan<byte> bytes)
    {
        var h = 2166136261u;
        foreach (var b in bytes)
        {
            h = (h ^ b) * 16777619u;
        }

        return (int)h;
    }
}
