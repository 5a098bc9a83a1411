using System.Text.Json;
using IommuSan.Trace.Formats;
using IommuSan.Trace.Records;

namespace IommuSan.Cli.Commands;

/// <summary>
/// Writes decoded events as JSON lines: <c>time_ns</c>, <c>cpu</c>, <c>pid</c>, <c>comm</c>,
/// <c>system</c>, <c>event</c>, and <c>fields</c> with every non-common field of the event's format
/// (numbers as JSON numbers, char arrays as strings, other arrays as arrays of numbers).
/// </summary>
internal sealed class DumpJsonWriter : IDisposable
{
    private static readonly JsonEncodedText _timeNs = JsonEncodedText.Encode("time_ns");
    private static readonly JsonEncodedText _cpu = JsonEncodedText.Encode("cpu");
    private static readonly JsonEncodedText _pid = JsonEncodedText.Encode("pid");
    private static readonly JsonEncodedText _comm = JsonEncodedText.Encode("comm");
    private static readonly JsonEncodedText _system = JsonEncodedText.Encode("system");
    private static readonly JsonEncodedText _event = JsonEncodedText.Encode("event");
    private static readonly JsonEncodedText _fields = JsonEncodedText.Encode("fields");

    private readonly Stream _output;
    private readonly Utf8JsonWriter _writer;

    public DumpJsonWriter(Stream output)
    {
        _output = output;
        _writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true, Indented = false });
    }

    public void Write(in TraceEvent e)
    {
        var w = _writer;
        w.WriteStartObject();
        w.WriteNumber(_timeNs, e.TimeNs);
        w.WriteNumber(_cpu, e.Cpu);
        w.WriteNumber(_pid, e.Pid);
        w.WriteString(_comm, e.Comm);
        w.WriteString(_system, e.System);
        w.WriteString(_event, e.Name);
        w.WriteStartObject(_fields);
        var fields = e.Format.Fields;
        for (var i = 0; i < fields.Length; i++)
        {
            var f = fields[i];
            if (f.IsCommon)
            {
                continue;
            }

            w.WritePropertyName(f.Name);
            if (f.IsString)
            {
                WriteString(w, e, i);
            }
            else if (f.Layout == FieldLayout.Scalar)
            {
                if (f.IsSigned)
                {
                    w.WriteNumberValue((long)e.GetUInt64(i));
                }
                else
                {
                    w.WriteNumberValue(e.GetUInt64(i));
                }
            }
            else
            {
                w.WriteStartArray();
                var n = e.GetArrayLength(i);
                for (var k = 0; k < n; k++)
                {
                    var v = e.GetArrayElement(i, k);
                    if (f.IsSigned)
                    {
                        w.WriteNumberValue((long)v);
                    }
                    else
                    {
                        w.WriteNumberValue(v);
                    }
                }

                w.WriteEndArray();
            }
        }

        w.WriteEndObject();
        w.WriteEndObject();
        w.Flush();
        w.Reset(); // one JSON document per line, no separating comma
        _output.WriteByte((byte)'\n');
    }

    // A char array up to its NUL, written from the payload bytes without a temporary string.
    private static void WriteString(Utf8JsonWriter w, in TraceEvent e, int fieldIndex)
    {
        if (!e.TryGetFieldBytes(fieldIndex, out var bytes))
        {
            w.WriteStringValue(string.Empty);
            return;
        }

        var nul = bytes.IndexOf((byte)0);
        var text = nul >= 0 ? bytes[..nul] : bytes;
        if (System.Text.Unicode.Utf8.IsValid(text))
        {
            w.WriteStringValue(text);
        }
        else
        {
            w.WriteStringValue(System.Text.Encoding.UTF8.GetString(text));
        }
    }

    public void Dispose() => _writer.Dispose();
}
