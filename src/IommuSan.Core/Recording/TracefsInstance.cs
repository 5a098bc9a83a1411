namespace IommuSan.Recording;

/// <summary>
/// A private ftrace instance (<c>instances/NAME</c>) with IommuSan's events enabled: the
/// fallback recorder when trace-cmd is not installed. Its own ring buffer leaves the top-level
/// buffer and other tools' instances alone; disposing removes it.
/// </summary>
internal sealed class TracefsInstance : IDisposable
{
    private readonly List<string> _enabled = [];
    private readonly List<string> _problems = [];
    private bool _removed;

    private TracefsInstance(string path)
    {
        Path = path;
    }

    public string Path { get; }

    /// <summary>Events that could not be enabled (each with the reason).</summary>
    public IReadOnlyList<string> Problems => _problems;

    public static TracefsInstance Create(string root, string name, int bufferKb, IEnumerable<string> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        var path = System.IO.Path.Combine(root, "instances", name);
        Directory.CreateDirectory(path);
        var instance = new TracefsInstance(path);
        try
        {
            instance.Write("tracing_on", "0");
            instance.Write("buffer_size_kb", bufferKb.ToString(System.Globalization.CultureInfo.InvariantCulture));
            foreach (var e in events)
            {
                var rel = System.IO.Path.Combine("events", e.Replace(':', '/'), "enable");
                try
                {
                    instance.Write(rel, "1");
                    instance._enabled.Add(rel);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    instance._problems.Add($"could not enable {e}: {ex.Message}");
                }
            }
        }
        catch
        {
            instance.Dispose();
            throw;
        }

        return instance;
    }

    public void Start() => Write("tracing_on", "1");

    public void Stop() => Write("tracing_on", "0");

    /// <summary>Copies the instance's <c>trace</c> (text) to <paramref name="output"/>.</summary>
    public void CopyTraceTo(string output)
    {
        using var source = File.OpenRead(System.IO.Path.Combine(Path, "trace"));
        using var target = File.Create(output);
        source.CopyTo(target);
    }

    private void Write(string relative, string value) => File.WriteAllText(System.IO.Path.Combine(Path, relative), value);

    public void Dispose()
    {
        if (_removed)
        {
            return;
        }

        _removed = true;
        foreach (var rel in _enabled)
        {
            try
            {
                Write(rel, "0");
            }
            catch (IOException)
            {
            }
        }

        try
        {
            // tracefs removes an instance with rmdir (non-recursive): the kernel owns its files.
            Directory.Delete(Path, recursive: false);
        }
        catch (IOException)
        {
        }
    }
}
