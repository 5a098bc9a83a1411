using System.Runtime.ExceptionServices;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Trace.Text;

/// <summary>
/// Decodes a text trace on worker threads, chunk by chunk, and hands the chunks to one consumer in
/// file order. A worker takes the read lock, reads about <see cref="ReadSize"/> bytes of whole lines
/// (the partial last line is carried into the next chunk) and numbers them, then decodes its chunk
/// outside the lock while another worker reads the next one; each worker has its own decoder state
/// (<see cref="TextChunkDecoder"/>). Memory is bounded: <see cref="ChunkCount"/> chunks circulate,
/// and a line longer than <see cref="MaxLineLength"/> is an error naming the line. A reading error is
/// rethrown to the consumer after every line before it; disposing stops and joins the workers.
/// </summary>
internal sealed class TextChunkPipeline : IDisposable
{
    /// <summary>Bytes read per chunk: large reads skip FileStream's own buffer copy.</summary>
    public const int ReadSize = 1 << 21;

    /// <summary>A text trace line longer than this is not a trace line (1 MiB).</summary>
    public const int MaxLineLength = 1 << 20;

    private const int ChunkCount = 6;

    private readonly Stream _stream;
    private readonly Stream _positionStream;
    private readonly string _displayPath;
    private readonly object _readLock = new();
    private readonly object _sync = new();
    private readonly Stack<LineChunk> _free = new();
    private readonly LineChunk?[] _done = new LineChunk?[ChunkCount];
    private readonly LineChunk[] _chunks = new LineChunk[ChunkCount];
    private readonly Thread[] _workers;

    // Reading state, guarded by _readLock.
    private byte[] _carry = new byte[4096];
    private int _carryLength;
    private long _nextLineNumber = 1;
    private long _nextSequence;
    private bool _inputDone;

    // Guarded by _sync.
    private long _nextToConsume;
    private bool _stopping; // set by Dispose: workers finish their chunk and exit

    /// <param name="workers">Decoding threads; by default two (one on a single-CPU machine).</param>
    public TextChunkPipeline(Stream stream, Stream positionStream, string displayPath, Func<TextChunkDecoder> newDecoder, int? workers = null)
    {
        _stream = stream;
        _positionStream = positionStream;
        _displayPath = displayPath;
        for (var i = 0; i < ChunkCount; i++)
        {
            _chunks[i] = new LineChunk();
            _free.Push(_chunks[i]);
        }

        // Two workers use both cores of a small machine; more would only contend for the read lock.
        _workers = new Thread[workers ?? Math.Clamp(Environment.ProcessorCount, 1, 2)];
        for (var i = 0; i < _workers.Length; i++)
        {
            var decoder = newDecoder();
            _workers[i] = new Thread(() => Work(decoder)) { IsBackground = true, Name = $"iommusan text {i}" };
        }

        foreach (var worker in _workers)
        {
            worker.Start();
        }
    }

    /// <summary>
    /// The next chunk in file order (the last has <see cref="LineChunk.End"/>); give it back with
    /// <see cref="Return"/>. A chunk with an <see cref="LineChunk.Error"/> is the last: its events come before the error.
    /// </summary>
    public LineChunk Take()
    {
        LineChunk chunk;
        lock (_sync)
        {
            var slot = (int)(_nextToConsume % ChunkCount);
            while (_done[slot] is not { } ready || ready.Sequence != _nextToConsume)
            {
                Monitor.Wait(_sync);
            }

            chunk = _done[slot]!;
            _done[slot] = null;
            _nextToConsume++;
        }

        return chunk;
    }

    public void Return(LineChunk chunk)
    {
        lock (_sync)
        {
            _free.Push(chunk);
            Monitor.PulseAll(_sync);
        }
    }

    private void Work(TextChunkDecoder decoder)
    {
        while (true)
        {
            LineChunk? chunk;
            lock (_readLock)
            {
                chunk = TakeFree();
                if (chunk is null)
                {
                    return;
                }

                if (_inputDone)
                {
                    Return(chunk);
                    return;
                }

                chunk.Clear();
                chunk.Sequence = _nextSequence++;
                Fill(chunk);
            }

            try
            {
                decoder.Decode(chunk); // the lines before a reading error too
            }
            catch (Exception e)
            {
                chunk.Error ??= ExceptionDispatchInfo.Capture(e);
            }

            if (chunk.Error is not null)
            {
                chunk.End = true; // an error ends the trace; later chunks are never consumed
            }

            lock (_sync)
            {
                _done[(int)(chunk.Sequence % ChunkCount)] = chunk;
                Monitor.PulseAll(_sync);
            }
        }
    }

    // A free chunk, or null when the pipeline is stopping.
    private LineChunk? TakeFree()
    {
        lock (_sync)
        {
            while (_free.Count == 0 && !_stopping)
            {
                Monitor.Wait(_sync);
            }

            return _stopping ? null : _free.Pop();
        }
    }

    // Reads whole lines into the chunk: the carried partial line, then as much as fits (at least one
    // line end, or the end of input). A reading error, or a line longer than MaxLineLength, ends the
    // input: the chunk keeps the whole lines read before it and carries the error. Under _readLock.
    private void Fill(LineChunk chunk)
    {
        chunk.EnsureInput(Math.Max(ReadSize, _carryLength + (ReadSize / 2)), 0);
        _carry.AsSpan(0, _carryLength).CopyTo(chunk.Input);
        var length = _carryLength;
        _carryLength = 0;
        var eof = false;
        Exception? error = null;
        int lastNewline;
        try
        {
            while (true)
            {
                // Fill the buffer: decompressing streams return a little per call.
                while (length < chunk.Input.Length && !eof)
                {
                    var read = _stream.Read(chunk.Input, length, chunk.Input.Length - length);
                    eof = read == 0;
                    length += read;
                }

                lastNewline = chunk.Input.AsSpan(0, length).LastIndexOf((byte)'\n');
                if (lastNewline >= 0 || eof)
                {
                    break;
                }

                // One line fills the buffer.
                if (length > MaxLineLength)
                {
                    throw new TraceDataException(_displayPath, $"line longer than {MaxLineLength} bytes; not a text trace", line: _nextLineNumber);
                }

                chunk.EnsureInput(length * 2, length);
            }

            if (eof && length - (lastNewline + 1) > MaxLineLength)
            {
                throw new TraceDataException(_displayPath, $"line longer than {MaxLineLength} bytes; not a text trace",
                    line: _nextLineNumber + CountLines(chunk.Input.AsSpan(0, lastNewline + 1)));
            }
        }
        catch (Exception e)
        {
            error = e;
            lastNewline = chunk.Input.AsSpan(0, length).LastIndexOf((byte)'\n');
        }

        // Whole lines stay; the partial last line waits for the next chunk (or ends the input).
        var end = error is not null ? lastNewline + 1 : eof ? length : lastNewline + 1;
        var tail = error is not null ? 0 : length - end;
        if (tail > _carry.Length)
        {
            _carry = new byte[Math.Max(tail, _carry.Length * 2)];
        }

        chunk.Input.AsSpan(end, tail).CopyTo(_carry);
        _carryLength = tail;
        chunk.InputLength = end;
        chunk.FirstLineNumber = _nextLineNumber;
        _nextLineNumber += CountLines(chunk.Input.AsSpan(0, end));
        chunk.PositionAfter = _positionStream.CanSeek ? _positionStream.Position : 0;
        chunk.End = eof || error is not null;
        chunk.Error = error is null ? null : ExceptionDispatchInfo.Capture(error);
        _inputDone = chunk.End;
    }

    // Lines in a run of bytes: its line ends, plus an unterminated last line.
    private static long CountLines(ReadOnlySpan<byte> bytes) =>
        bytes.Count((byte)'\n') + (bytes.Length > 0 && bytes[^1] != '\n' ? 1 : 0);

    public void Dispose()
    {
        lock (_sync)
        {
            if (_stopping)
            {
                return;
            }

            _stopping = true;
            Monitor.PulseAll(_sync);
        }

        foreach (var worker in _workers)
        {
            worker.Join();
        }

        foreach (var chunk in _chunks)
        {
            chunk.Dispose();
        }
    }
}
