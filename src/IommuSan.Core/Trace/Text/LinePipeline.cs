using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace IommuSan.Trace.Text;

/// <summary>
/// Reads lines and parses their heads (<see cref="TextLine"/>) on a second thread, so finding line
/// ends and parsing comm/pid/cpu/timestamp overlap the payload decoding of earlier lines. Lines
/// are copied into a fixed set of batches that circulate between the two threads (bounded memory:
/// <see cref="BatchCount"/> batches of about <see cref="BatchBytes"/> each, one growing to the
/// longest line at most); batches come out in file order, and an error from reading is rethrown on
/// the consumer's thread after every line before it. One consumer; dispose to stop the reader.
/// </summary>
internal sealed class LinePipeline : IDisposable
{
    /// <summary>Bytes of lines a batch holds before it is handed over (unless one line is longer).</summary>
    public const int BatchBytes = 1 << 18;

    /// <summary>Lines a batch holds at most.</summary>
    public const int BatchLines = 2048;

    private const int BatchCount = 4;

    private readonly LineReader _reader;
    private readonly BlockingCollection<LineBatch> _free = new(BatchCount);
    private readonly BlockingCollection<LineBatch> _full = new(BatchCount);
    private readonly CancellationTokenSource _stop = new();
    private readonly LineBatch[] _batches = new LineBatch[BatchCount];
    private readonly Thread _thread;
    private bool _disposed;

    public LinePipeline(Stream stream, string displayPath)
    {
        _reader = new LineReader(stream, displayPath);
        for (var i = 0; i < BatchCount; i++)
        {
            _batches[i] = new LineBatch();
            _free.Add(_batches[i]);
        }

        _thread = new Thread(Produce) { IsBackground = true, Name = "iommusan text lines" };
        _thread.Start();
    }

    /// <summary>The next batch in file order (the last has <see cref="LineBatch.End"/>); give it back with <see cref="Return"/>.</summary>
    public LineBatch Take()
    {
        var batch = _full.Take();
        batch.Error?.Throw();
        return batch;
    }

    public void Return(LineBatch batch) => _free.Add(batch);

    private void Produce()
    {
        try
        {
            var token = _stop.Token;
            var more = true;
            while (more)
            {
                var batch = _free.Take(token);
                batch.Clear(_reader.LineNumber + 1);
                try
                {
                    while (batch.Count < BatchLines)
                    {
                        if (!_reader.TryReadLine(out var offset, out var length))
                        {
                            more = false;
                            batch.End = true;
                            break;
                        }

                        var line = _reader.Buffer.AsSpan(offset, length);
                        if (!batch.TryAdd(line))
                        {
                            // Batch full: this line opens the next one.
                            _full.Add(batch, token);
                            batch = _free.Take(token);
                            batch.Clear(_reader.LineNumber);
                            batch.TryAdd(line);
                        }
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
                {
                    batch.Error = ExceptionDispatchInfo.Capture(e);
                    more = false;
                }

                _full.Add(batch, token);
            }
        }
        catch (OperationCanceledException)
        {
            // The consumer stopped early.
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _stop.Cancel();
        _thread.Join();
        _reader.Dispose();
        foreach (var batch in _batches)
        {
            batch.Dispose();
        }

        _free.Dispose();
        _full.Dispose();
        _stop.Dispose();
    }
}

/// <summary>Consecutive lines (copied) with their parsed heads.</summary>
internal sealed class LineBatch : IDisposable
{

    private readonly int[] _starts = new int[LinePipeline.BatchLines + 1];
    private readonly TextLine[] _heads = new TextLine[LinePipeline.BatchLines];
    private readonly bool[] _isEvent = new bool[LinePipeline.BatchLines];
    private byte[] _bytes = ArrayPool<byte>.Shared.Rent(LinePipeline.BatchBytes);

    public int Count { get; private set; }

    /// <summary>Line number of the first line.</summary>
    public long FirstLineNumber { get; private set; }

    /// <summary>The last batch (possibly empty).</summary>
    public bool End { get; set; }

    public ExceptionDispatchInfo? Error { get; set; }

    public ReadOnlySpan<byte> Line(int i) => _bytes.AsSpan(_starts[i], _starts[i + 1] - _starts[i]);

    /// <summary>False when the line is not an event line.</summary>
    public bool TryGetHead(int i, out TextLine head)
    {
        head = _heads[i];
        return _isEvent[i];
    }

    public void Clear(long firstLineNumber)
    {
        Count = 0;
        End = false;
        Error = null;
        FirstLineNumber = firstLineNumber;
        _starts[0] = 0;
    }

    // False when the line does not fit (an empty batch always takes it, growing to the line's length).
    public bool TryAdd(ReadOnlySpan<byte> line)
    {
        var start = _starts[Count];
        if (start + line.Length > _bytes.Length)
        {
            if (Count > 0)
            {
                return false;
            }

            ArrayPool<byte>.Shared.Return(_bytes);
            _bytes = ArrayPool<byte>.Shared.Rent(line.Length);
        }

        line.CopyTo(_bytes.AsSpan(start));
        _isEvent[Count] = TextLine.TryParse(line, out _heads[Count]);
        _starts[++Count] = start + line.Length;
        return true;
    }

    public void Dispose()
    {
        if (_bytes.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_bytes);
            _bytes = [];
        }
    }
}
