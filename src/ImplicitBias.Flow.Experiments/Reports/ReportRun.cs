using System.Text.Json.Nodes;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Experiments.Configuration;
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
/// <param name="Trajectory">trajectory.csv's observations, or null when missing.</param>
/// <param name="ThetaFinal">theta_final.npy, or null when missing.</param>
/// <param name="Layout">The network's parameter layout (from config.json and the length of θ), or null when unknown.</param>
/// <param name="Homogeneity">The model's homogeneity degree L (docs/mathematics.md §1).</param>
/// <param name="CompositeMatrixWeight">For a composite optimizer with the norm max{r ‖W‖msp, ‖u‖∞}, r (Muon-Adam: η0ᴬ/η0ᴹ, Theorem 3.7; Muon-Signum: 1); NaN for every other optimizer.</param>
/// <param name="OffFlowWindows">Windows of accepted steps in which the run's steps left the flow (summary.json → logLossDrift; 0 for older runs and discrete ones).</param>
public sealed record ReportRun(
    string Folder,
    string Optimizer,
    ulong Seed,
    string Kind,
    string Setting,
    string Status,
    bool Finished,
    IReadOnlyDictionary<ObservedNorm, double> Margins,
    IReadOnlyDictionary<ObservedNorm, double> SoftMargins,
    double SecondHalfMinCosineToLast,
    Trajectory? Trajectory,
    double[]? ThetaFinal = null,
    ParameterLayout? Layout = null,
    double Homogeneity = double.NaN,
    double CompositeMatrixWeight = double.NaN,
    long OffFlowWindows = 0)
{
    /// <summary>The norms summary.json reports margins in.</summary>
    public static readonly ObservedNorm[] Norms = [ObservedNorm.L2, ObservedNorm.LInf, ObservedNorm.Msp, ObservedNorm.Own];

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
        string trajectory = Path.Combine(dir, "trajectory.csv"), thetaFile = Path.Combine(dir, "theta_final.npy");
        double[]? theta = File.Exists(thetaFile) ? Npy.ReadFile(thetaFile).Data : null;
        int depth = model?["Depth"]?.GetValue<int>() ?? 0, width = model?["Width"]?.GetValue<int>() ?? 0;
        string optimizer = summary["optimizer"]?.GetValue<string>() ?? config[OptimizerKey]?["Name"]?.GetValue<string>() ?? "?";
        JsonNode? optimizerNode = config[OptimizerKey];
        double compositeWeight = optimizer switch
        {
            "muon-adam" => Number(optimizerNode?["AdamEta0"]) / Number(optimizerNode?["MuonEta0"]),
            "muon-signum" => 1.0,
            _ => double.NaN,
        };
        return new ReportRun(
            Path.GetRelativePath(root, dir).Replace(Path.DirectorySeparatorChar, '/'),
            optimizer,
            config["Model"]?[SeedKey]?.GetValue<ulong>() ?? 0,
            method == "discrete" ? "discrete" : "flow",
            setting,
            summary["status"]?.GetValue<string>() ?? "unknown",
            summary["finished"]?.GetValue<bool>() ?? false,
            Values(final?["margins"]),
            Values(final?["softMargins"]),
            Number(final?["secondHalfMinCosineToLast"]),
            File.Exists(trajectory) ? TrajectoryFormat.ReadCsv(trajectory) : null,
            theta,
            theta is null ? null : LayoutOf(theta.Length, depth, width),
            model is null ? double.NaN : DegreeOf(model),
            compositeWeight,
            summary["logLossDrift"]?["offFlowWindows"]?.GetValue<long>() ?? 0);
    }

    // The fully connected layout whose length is θ's: hidden layers of the configured width, the input dimension
    // solved from len = d·k + (D − 2)·k² + k (depth D ≥ 2) or len = d (depth 1).
    private static ParameterLayout? LayoutOf(int length, int depth, int width)
    {
        if (depth < 1 || (depth > 1 && width < 1))
        {
            return null;
        }

        if (depth == 1)
        {
            return ParameterLayout.FullyConnected(length, []);
        }

        int rest = length - ((depth - 2) * width * width) - width;
        return rest > 0 && rest % width == 0 ? ParameterLayout.FullyConnected(rest / width, Enumerable.Repeat(width, depth - 1).ToArray()) : null;
    }

    private static double DegreeOf(JsonNode model) => ExperimentLoader.Homogeneity(new ModelSettings(
        model["Depth"]?.GetValue<int>() ?? 0,
        model["Width"]?.GetValue<int>() ?? 0,
        model["Activation"]?.GetValue<string>() ?? "relu",
        Number(model["Q"]) is var q && double.IsFinite(q) ? q : 1,
        0,
        0,
        null));

    // summary.json keys its per-norm values by the norms' column suffixes.
    private static Dictionary<ObservedNorm, double> Values(JsonNode? node) => Norms.ToDictionary(n => n, n => Number(node?[TrajectoryFormat.Suffix(n)]));

    private static double Number(JsonNode? node) => node is JsonValue v && v.TryGetValue(out double d) ? d : double.NaN;
}
