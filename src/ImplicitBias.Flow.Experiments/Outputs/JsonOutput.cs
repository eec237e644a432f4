using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ImplicitBias.Flow.Core.IO;

namespace ImplicitBias.Flow.Experiments.Outputs;

/// <summary>Writes JSON for Python (json.load): non-finite numbers become null, files are written atomically.</summary>
public static class JsonOutput
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>A JSON number, or null for NaN and ±∞ (which JSON cannot hold).</summary>
    public static JsonNode? Number(double value) => double.IsFinite(value) ? JsonValue.Create(value) : null;

    /// <summary>Serializes <paramref name="node"/> indented.</summary>
    public static string ToText(JsonNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return node.ToJsonString(Indented);
    }

    /// <summary>Writes <paramref name="node"/> to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, JsonNode node) => AtomicFile.WriteAllText(path, ToText(node) + "\n");

    /// <summary>Reads a JSON file.</summary>
    public static JsonNode Read(string path) => JsonNode.Parse(File.ReadAllText(path, Encoding.UTF8)) ?? throw new InvalidDataException($"'{path}' holds no JSON value.");
}
