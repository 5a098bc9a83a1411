using System.IO.Compression;
using ZstdSharp;

namespace IommuSan.Trace.Dat;

/// <summary>
/// The compression a v7 file names in its header ("none\0", "zlib\0..." or "zstd\0...", v7 doc
/// "INITIAL FORMAT"). Each compressed block (a metadata section or a chunk of trace data) is one
/// independent zlib stream (RFC 1950, what zlib's compress2 writes) or one zstd frame.
/// Decompression always goes into a caller-sized buffer whose size was checked first.
/// </summary>
internal abstract class DatDecompressor : IDisposable
{
    public const string None = "none";
    public const string Zlib = "zlib";
    public const string Zstd = "zstd";

    public abstract string Name { get; }

    /// <summary>null for "none"; a decompressor for "zlib" and "zstd"; null with <paramref name="supported"/> false otherwise.</summary>
    public static DatDecompressor? Create(string name, out bool supported)
    {
        supported = true;
        switch (name)
        {
            case None:
                return null;
            case Zlib:
                return new ZlibDecompressor();
            case Zstd:
                return new ZstdDecompressor();
            default:
                supported = false;
                return null;
        }
    }

    /// <summary>
    /// Decompresses one block into <paramref name="destination"/> and returns the bytes produced.
    /// Throws <see cref="InvalidDataException"/> when the block is corrupt or inflates to more than the destination holds.
    /// </summary>
    public abstract int Decompress(byte[] source, int offset, int count, Span<byte> destination);

    public virtual void Dispose()
    {
    }

    private sealed class ZlibDecompressor : DatDecompressor
    {
        public override string Name => Zlib;

        public override int Decompress(byte[] source, int offset, int count, Span<byte> destination)
        {
            using var input = new MemoryStream(source, offset, count, writable: false);
            using var zlib = new ZLibStream(input, CompressionMode.Decompress);
            var total = 0;
            while (total < destination.Length)
            {
                var n = zlib.Read(destination[total..]);
                if (n == 0)
                {
                    return total;
                }

                total += n;
            }

            // The destination is full: the stream must end here, or the block is larger than declared.
            Span<byte> probe = stackalloc byte[1];
            if (zlib.Read(probe) != 0)
            {
                throw new InvalidDataException($"zlib data inflates to more than the declared {destination.Length} bytes");
            }

            return total;
        }
    }

    private sealed class ZstdDecompressor : DatDecompressor
    {
        private readonly Decompressor _zstd = new();

        public override string Name => Zstd;

        public override int Decompress(byte[] source, int offset, int count, Span<byte> destination)
        {
            try
            {
                return _zstd.Unwrap(source.AsSpan(offset, count), destination);
            }
            catch (ZstdException e)
            {
                throw new InvalidDataException($"zstd: {e.Message}", e);
            }
        }

        public override void Dispose()
        {
            _zstd.Dispose();
            base.Dispose();
        }
    }
}
