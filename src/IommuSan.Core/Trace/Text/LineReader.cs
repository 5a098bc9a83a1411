using System.Buffers;
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

    private readonly Stream _stream;
    private readonly string _displayPath;
    private byte[] _buffer;
    private int _start;
    private int _end;
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
        var searchFrom = _start;
        while (true)
        {
            var newline = _buffer.AsSpan(searchFrom, _end - searchFrom).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var lineEnd = searchFrom + newline;
                offset = _start;
                length = lineEnd - _start;
                _start = lineEnd + 1;
                return Finish(offset, ref length);
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

            searchFrom = _end;
            Fill(ref searchFrom);
        }
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
    private void Fill(ref int searchFrom)
    {
        if (_start > 0)
        {
            var pending = _end - _start;
            System.Buffer.BlockCopy(_buffer, _start, _buffer, 0, pending);
            searchFrom -= _start;
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
