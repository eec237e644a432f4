using System.Globalization;
using System.Text.Json;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Analysis.Verification;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Verification;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>
/// <c>ibflow verify EXPERIMENT.json</c>: runs the first seed of every optimizer of an experiment with the
/// observers and checks the paper's predictions for its family (docs/mathematics.md §6) — Lemma C.10 and Theorem 3.1 for
/// normalized steepest descent, Lemma C.19 and Definition 5.1 for momentum steepest descent, Lemma B.10 and
/// Lemma C.19 for Adam, alignment, cosine to the last iterate (Fig. 1b) and the KKT certificate of the final
/// direction (Definition C.4) for all.
/// </summary>
internal sealed class VerifyCommand : ICommand
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <inheritdoc />
    public string Name => "verify";

    /// <inheritdoc />
    public string Summary => "Run an experiment and check the paper's predictions (limits, bounds, KKT).";

    /// <inheritdoc />
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (CommandLine.WantsHelp(args))
        {
            PrintHelp(output);
            return 0;
        }

        var line = new CommandLine(args, ["--kkt-slack"], ["--json", "--no-kkt"], Name);
        string path = line.SingleExperiment("ibflow verify EXPERIMENT.json [--json] [--no-kkt] [--kkt-slack S] (see ibflow verify --help).");
        bool json = line.Has("--json"), kkt = !line.Has("--no-kkt");
        double? slack = null;
        if (line.Value("--kkt-slack") is { } text)
        {
            slack = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s >= 0
                ? s
                : throw new UserError("--kkt-slack needs a number ≥ 0 (Infinity for all samples).");
        }

        List<string> overrides = line.Overrides;

        ExperimentSettings settings;
        try
        {
            settings = ExperimentLoader.Load(path, overrides);
        }
        catch (ExperimentException e)
        {
            throw new UserError(e.Message);
        }

        if (settings.Solver.Method == "discrete")
        {
            throw new UserError("verify checks the continuous-time flows; Solver:Method 'discrete' is not supported (use auto or an ODE method).");
        }

        IReadOnlyList<OptimizerVerification> reports;
        try
        {
            reports = ExperimentVerification.Run(settings, kkt, slack);
        }
        catch (ExperimentException e)
        {
            throw new UserError(e.Message);
        }

        if (json)
        {
            WriteJson(settings, reports, output);
        }
        else
        {
            WriteTable(settings, reports, output);
        }

        return 0;
    }

    private static string VerdictText(Verdict v) => v switch
    {
        Verdict.Holds => "holds",
        Verdict.NotYetConverged => "not yet converged",
        _ => "violated",
    };

    private static string Number(double v) => double.IsNaN(v) ? "–" : v.ToString("G5", CultureInfo.InvariantCulture);

    private static void WriteTable(ExperimentSettings settings, IReadOnlyList<OptimizerVerification> reports, TextWriter output)
    {
        output.WriteLine($"verify {settings.Name} (seed {(settings.Seeds.Count > 0 ? settings.Seeds[0] : settings.Model.Seed)}; trend = slope of log|value − predicted| vs log t over the last decade)");
        foreach (OptimizerVerification r in reports)
        {
            Observation? final = r.Run.Trajectory.Last;
            output.WriteLine();
            output.WriteLine($"{r.Label} ({r.Family}): {r.Run.Result.Status}, t = {Number(r.Run.Result.FinalTime)}, log L = {Number(final?.LogLoss ?? double.NaN)}, ∫η = {Number(final?.EtaIntegral ?? double.NaN)}, solve {r.SolveSeconds:F2} s, checks {r.CheckSeconds:F2} s");
            output.WriteLine($"  {"quantity",-56} {"reference",-12} {"predicted",-20} {"measured",-12} {"trend",-9} {"verdict",-18} tol");
            foreach (PredictionRow row in r.Rows)
            {
                output.WriteLine($"  {row.Quantity,-56} {row.Reference,-12} {row.Predicted,-20} {Number(row.Measured),-12} {Number(row.Trend),-9} {VerdictText(row.Verdict),-18} {Number(row.Tolerance)}");
                if (row.Extra is { } extra)
                {
                    output.WriteLine($"  {string.Empty,-56} {string.Join(", ", extra.Select(kv => $"{kv.Key} = {Number(kv.Value)}"))}");
                }
            }
        }
    }

    private static void WriteJson(ExperimentSettings settings, IReadOnlyList<OptimizerVerification> reports, TextWriter output)
    {
        static double? Finite(double v) => double.IsFinite(v) ? v : null;
        var rows = reports.SelectMany(r => r.Rows.Select(row =>
        {
            var o = new Dictionary<string, object?>
            {
                ["optimizer"] = r.Label,
                ["family"] = r.Family.ToString(),
                ["quantity"] = row.Quantity,
                ["reference"] = row.Reference,
                ["predicted"] = row.Predicted,
                ["measured"] = Finite(row.Measured),
                ["trend"] = Finite(row.Trend),
                ["verdict"] = VerdictText(row.Verdict),
                ["tolerance"] = Finite(row.Tolerance),
            };
            if (row.Extra is { } extra)
            {
                o["extra"] = extra.ToDictionary(kv => kv.Key, kv => Finite(kv.Value));
            }

            return o;
        }));
        var runs = reports.Select(r => new Dictionary<string, object?>
        {
            ["optimizer"] = r.Label,
            ["status"] = r.Run.Result.Status.ToString(),
            ["finalTime"] = Finite(r.Run.Result.FinalTime),
            ["logLoss"] = Finite(r.Run.Trajectory.Last?.LogLoss ?? double.NaN),
            ["etaIntegral"] = Finite(r.Run.Trajectory.Last?.EtaIntegral ?? double.NaN),
            ["solveSeconds"] = r.SolveSeconds,
            ["checkSeconds"] = r.CheckSeconds,
        });
        output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?> { ["experiment"] = settings.Name, ["runs"] = runs, ["rows"] = rows }, JsonOptions));
    }

    private static void PrintHelp(TextWriter output)
    {
        output.WriteLine("Usage: ibflow verify EXPERIMENT.json [--json] [--no-kkt] [--kkt-slack S] [--Key:Sub=value ...]");
        output.WriteLine();
        output.WriteLine("Runs the first seed of every optimizer of the experiment with the observers and prints one row per");
        output.WriteLine("prediction that applies (docs/mathematics.md §6): quantity, paper reference, predicted limit or bound, value at the");
        output.WriteLine("end, trend (slope of log|value − predicted| against log t over the last decade; negative = approaching),");
        output.WriteLine("verdict (holds / not yet converged / violated) and the tolerance used.");
        output.WriteLine();
        output.WriteLine("  --json         one JSON object: {experiment, runs, rows[{quantity, reference, predicted, measured, verdict, ...}]}");
        output.WriteLine("  --no-kkt       skip the KKT certificates of the final direction");
        output.WriteLine($"  --kkt-slack S  give KKT multipliers only to samples with q_i(θ̃) ≤ 1 + S (default: all samples up to m = {ExperimentVerification.KktFullSampleLimit}, S = {ExperimentVerification.LargeProblemKktSlack} above)");
        output.WriteLine("  --Key:Sub=v    override an experiment setting (as for every verb reading experiment files)");
    }
}
