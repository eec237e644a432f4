using System.Text.Json.Nodes;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Experiments.Outputs;

namespace ImplicitBias.Flow.Experiments.Reports;

/// <summary>One run folder as a report reads it: its config.json, summary.json and trajectory.csv.</summary>
/// <param name="Folder">The run folder, relative to the report's root.</param>
/// <param name="Optimizer">The optimizer's label (summary.json's <c>optimizer</c>).</param>
/// <param name="Seed">The seed.</param>
/// <param name="Kind">"flow" or "discrete" (config.json's Solver:Method).</param>
/// <param name="Setting">Everything but optimizer, seed and method, e.g. <c>relu-q, width 20, gaussian 64</c>: runs of one setting are compared.</param>
/// <param name="Status">summary.json's status.</param>
/// <param name="Finished">summary.json's finished flag.</param>
/// <param name="Margins">Final hard margins by norm (l2, linf, msp, own); NaN where unknown.</param>
/// <param name="SoftMargins">Final soft margins by norm.</param>
/// <param name="SecondHalfMinCosineToLast">Least cosine to the last iterate over the second half of the run.</param>
/// <param name="Trajectory">trajectory.csv, or null when missing.</param>
public sealed record ReportRun(
    string Folder,
    string Optimizer,
    ulong Seed,
    string Kind,
    string Setting,
    string Status,
    bool Finished,
    IReadOnlyDictionary<string, double> Margins,
    IReadOnlyDictionary<string, double> SoftMargins,
    double SecondHalfMinCosineToLast,
    CsvTable? Trajectory)
{
    /// <summary>The norms summary.json reports margins in.</summary>
    public static readonly string[] Norms = ["l2", "linf", "msp", "own"];

    /// <summary>True when the run ended in a way whose final values mean something (not failed, not unfinished).</summary>
    public bool Usable => Finished && Status != "failed";

    /// <summary>Every run folder under <paramref name="root"/> (any depth) that holds config.json and summary.json.</summary>
    public static IReadOnlyList<ReportRun> ReadAll(string root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var runs = new List<ReportRun>();
        foreach (string summary in Directory.EnumerateFiles(root, "summary.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string dir = Path.GetDirectoryName(summary)!;
            if (File.Exists(Path.Combine(dir, "config.json")))
            {
                runs.Add(Read(root, dir));
            }
        }

        return runs;
    }

    // Keys of config.json (the experiment file keys), named apart from this record's properties of the same words.
    private const string KindKey = "Kind", OptimizerKey = "Optimizer", SeedKey = "Seed";

    private static ReportRun Read(string root, string dir)
    {
        JsonNode config = JsonOutput.Read(Path.Combine(dir, "config.json"));
        JsonNode summary = JsonOutput.Read(Path.Combine(dir, "summary.json"));
        string method = config["Solver"]?["Method"]?.GetValue<string>() ?? "auto";
        JsonNode? model = config["Model"], data = config["Data"];
        string setting = $"{model?["Activation"]?.GetValue<string>()}, depth {model?["Depth"]}, width {model?["Width"]}, {data?[KindKey]?.GetValue<string>()} {data?["Samples"]}";
        JsonNode? final = summary["final"];
        string trajectory = Path.Combine(dir, "trajectory.csv");
        return new ReportRun(
            Path.GetRelativePath(root, dir).Replace(Path.DirectorySeparatorChar, '/'),
            summary["optimizer"]?.GetValue<string>() ?? config[OptimizerKey]?["Name"]?.GetValue<string>() ?? "?",
            config["Model"]?[SeedKey]?.GetValue<ulong>() ?? 0,
            method == "discrete" ? "discrete" : "flow",
            setting,
            summary["status"]?.GetValue<string>() ?? "unknown",
            summary["finished"]?.GetValue<bool>() ?? false,
            Values(final?["margins"]),
            Values(final?["softMargins"]),
            Number(final?["secondHalfMinCosineToLast"]),
            File.Exists(trajectory) ? CsvTable.Read(trajectory) : null);
    }

    private static Dictionary<string, double> Values(JsonNode? node) => Norms.ToDictionary(n => n, n => Number(node?[n]));

    private static double Number(JsonNode? node) => node is JsonValue v && v.TryGetValue(out double d) ? d : double.NaN;
}
