using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Trace.Text;

/// <summary>
/// Reads lines of UTF-8 bytes from a stream through one pooled buffer: memory stays bounded by
/// the longest line, and a line longer than <see cref="MaxLineLength"/> is an error naming the
/// line rather than a reason to grow without end. Lines are handed out as (offset, length) into
/// <see cref="Buffer"/>, valid until the next call; '\r' before '\n' is dropped.
/// </summary>
internal sealed class LineReader : IDisposable
{
    /// <summary>A text trace line longer than this is not a trace line (1 MiB).</summary>
    public const int MaxLineLength = 1 << 20;

    // One large read per MiB: fewer system calls, and a read at least as large as the FileStream's
    // own buffer goes straight into ours instead of being copied through it.
    private const int InitialBufferSize = 1 << 20;
    private const int LineEndBatch = 1024;

    private readonly Stream _stream;
    private readonly string _displayPath;
    private byte[] _buffer;
    private readonly int[] _lineEnds = new int[LineEndBatch];
    private int _start;
    private int _end;
    private int _scanned;
    private int _lineEndCount;
    private int _nextLineEnd;
    private bool _eof;

    public LineReader(Stream stream, string displayPath)
    {
        _stream = stream;
        _displayPath = displayPath;
        _buffer = ArrayPool<byte>.Shared.Rent(InitialBufferSize);
    }

    public byte[] Buffer => _buffer;

    /// <summary>1-based number of the line last returned.</summary>
    public long LineNumber { get; private set; }

    /// <summary>Next line as (offset, length) into <see cref="Buffer"/>; false at end of input.</summary>
    public bool TryReadLine(out int offset, out int length)
    {
        while (true)
        {
            if (_nextLineEnd < _lineEndCount)
            {
                var lineEnd = _lineEnds[_nextLineEnd++];
                offset = _start;
                length = lineEnd - _start;
                _start = lineEnd + 1;
                return Finish(offset, ref length);
            }

            if (_scanned < _end)
            {
                ScanLineEnds();
                continue;
            }

            if (_eof)
            {
                if (_start < _end)
                {
                    offset = _start;
                    length = _end - _start;
                    _start = _end;
                    return Finish(offset, ref length);
                }

                offset = length = 0;
                return false;
            }

            Fill();
        }
    }

    // Finds the newlines of the unscanned part of the buffer in one vectorised pass (a table of line
    // ends instead of one search call per line: most lines are ~130 bytes, where a search's setup dominates).
    private void ScanLineEnds()
    {
        _lineEndCount = 0;
        _nextLineEnd = 0;
        var p = _scanned;
        var end = _end;
        ref var data = ref MemoryMarshal.GetArrayDataReference(_buffer);
        if (Vector256.IsHardwareAccelerated)
        {
            var newline = Vector256.Create((byte)'\n');
            while (p + Vector256<byte>.Count <= end && _lineEndCount + Vector256<byte>.Count <= _lineEnds.Length)
            {
                var mask = Vector256.Equals(Vector256.LoadUnsafe(ref data, (nuint)p), newline).ExtractMostSignificantBits();
                while (mask != 0)
                {
                    _lineEnds[_lineEndCount++] = p + BitOperations.TrailingZeroCount(mask);
                    mask &= mask - 1;
                }

                p += Vector256<byte>.Count;
            }
        }

        if (_lineEndCount == 0)
        {
            // The tail (or no vectors): the next newline the ordinary way.
            var newline = _buffer.AsSpan(p, end - p).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                _lineEnds[_lineEndCount++] = p + newline;
                p += newline + 1;
            }
            else
            {
                p = end;
            }
        }

        _scanned = p;
    }

    private bool Finish(int offset, ref int length)
    {
        LineNumber++;
        if (length > MaxLineLength)
        {
            throw new TraceDataException(_displayPath, $"line longer than {MaxLineLength} bytes; not a text trace", line: LineNumber);
        }

        if (length > 0 && _buffer[offset + length - 1] == '\r')
        {
            length--;
        }

        return true;
    }

    // Reads more input, first moving the partial line to the front or growing the buffer.
    // Called only when every line end found so far has been handed out.
    private void Fill()
    {
        if (_start > 0)
        {
            var pending = _end - _start;
            System.Buffer.BlockCopy(_buffer, _start, _buffer, 0, pending);
            _scanned -= _start;
            _start = 0;
            _end = pending;
        }

        if (_end == _buffer.Length)
        {
            if (_buffer.Length > MaxLineLength)
            {
                throw new TraceDataException(_displayPath, $"line longer than {MaxLineLength} bytes; not a text trace", line: LineNumber + 1);
            }

            var bigger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            System.Buffer.BlockCopy(_buffer, 0, bigger, 0, _end);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }

        var read = _stream.Read(_buffer, _end, _buffer.Length - _end);
        if (read == 0)
        {
            _eof = true;
        }

        _end += read;
    }

    public void Dispose()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }
}
