using System.Collections.Immutable;
using System.Reflection;

namespace IommuSan.Trace.Formats.Builtin;

/// <summary>
/// The event formats IommuSan knows without being told (see README.md beside this file): used to
/// rebuild payloads from text traces when the user has no <c>--formats</c> directory.
/// </summary>
internal static class BuiltinFormats
{
    private const string ResourcePrefix = "builtin-formats/";

    private static readonly Lazy<ImmutableArray<EventFormat>> _all = new(Load);

    /// <summary>Every built-in format (iommu, kmem, dma, ftrace:print), parsed once.</summary>
    public static ImmutableArray<EventFormat> All => _all.Value;

    /// <summary>The raw text of the built-in format file of <paramref name="system"/>:<paramref name="name"/>
    /// (exactly as the kernel printed it), e.g. for writing synthetic trace.dat files.</summary>
    public static string Text(string system, string name) =>
        ReadResource(typeof(BuiltinFormats).Assembly, $"{ResourcePrefix}{system}/{name}.format");

    private static ImmutableArray<EventFormat> Load()
    {
        var assembly = typeof(BuiltinFormats).Assembly;
        var result = ImmutableArray.CreateBuilder<EventFormat>();
        foreach (var resource in assembly.GetManifestResourceNames().Order(StringComparer.Ordinal))
        {
            if (!resource.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            {
                continue;
            }

            // "builtin-formats/dma/dma_map_sg.format": the directory is the event system.
            var relative = resource[ResourcePrefix.Length..].Replace('\\', '/');
            var slash = relative.IndexOf('/', StringComparison.Ordinal);
            var system = slash > 0 ? relative[..slash] : "ftrace";
            result.Add(FormatParser.Parse(system, ReadResource(assembly, resource)));
        }

        return result.ToImmutable();
    }

    private static string ReadResource(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded format '{name}' is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
