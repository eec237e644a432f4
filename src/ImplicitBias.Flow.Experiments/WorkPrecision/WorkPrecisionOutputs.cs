using System.Globalization;
using System.Text;
using System.Text.Json;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Plotting;

namespace ImplicitBias.Flow.Experiments.WorkPrecision;

/// <summary>
/// What <c>ibflow work-precision</c> writes: <c>work-precision.json</c> (the object <c>--json</c> prints) and the
/// log–log plots <c>work-precision.html</c> (largest error against gradient evaluations, one line per method) and
/// <c>work-precision-margin.html</c> (the ℓ∞ margin's relative error); and the terminal table.
/// </summary>
public static class WorkPrecisionOutputs
{
    /// <summary>The JSON file.</summary>
    public const string JsonFile = "work-precision.json";

    /// <summary>The plot files, in the order they are written.</summary>
    public static IReadOnlyList<string> PlotFiles { get; } = ["work-precision.html", "work-precision-margin.html"];

    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    /// <summary>Writes the JSON and the plots into <paramref name="directory"/> (created when missing).</summary>
    public static void WriteAll(WorkPrecisionResult result, string directory)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(directory);
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, JsonFile), ToJson(result) + Environment.NewLine);
        IReadOnlyList<FigureSpec> figures = Figures(result);
        for (int i = 0; i < figures.Count; i++)
        {
            PlotlyRenderer.WriteHtml(Path.Combine(directory, PlotFiles[i]), figures[i]);
        }
    }

    /// <summary>
    /// One JSON object: name, optimizer, reference and check (each a solve: method, rtol, status, finalTime,
    /// targetReached, evaluations, acceptedSteps, rejectedSteps, offFlowWindows, wallSeconds, marginLinf, marginL2, alignment),
    /// referenceAgreement (the check's errors), and rows (solve + errors {marginLinf, marginL2, alignment, direction,
    /// targetTime, max}). Non-finite numbers are null.
    /// </summary>
    public static string ToJson(WorkPrecisionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var document = new
        {
            name = result.Name,
            optimizer = result.Optimizer,
            reference = Solve(result.Reference),
            check = Solve(result.Check),
            referenceAgreement = Errors(result.ReferenceAgreement),
            rows = result.Rows.Select(r => new { solve = Solve(r.Outcome), errors = Errors(r.Errors) }).ToArray(),
        };
        return JsonSerializer.Serialize(document);
    }

    /// <summary>The terminal table: one line per solve with its cost and errors, the reference first.</summary>
    public static string FormatTable(WorkPrecisionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var text = new StringBuilder();
        SolveOutcome reference = result.Reference, check = result.Check;
        text.AppendLine(string.Create(Ci, $"{result.Name}: {result.Optimizer}; reference {reference.Method} at rtol {reference.RelTol:0.##e+0} ({reference.Status} at t = {reference.FinalTime:G8}, ℓ∞ margin {reference.MarginLinf:G10}, ℓ2 margin {reference.MarginL2:G10}, {reference.Evaluations} evaluations)"));
        text.AppendLine(string.Create(Ci, $"checked by {check.Method} at rtol {check.RelTol:0.##e+0}: {Describe(result.ReferenceAgreement)}"));
        // The method column is as wide as its longest entry ("auto (dopri5+ros34pw2)"), at least 16.
        int width = Math.Max(16, result.Rows.Select(r => r.Outcome.Method.Length).DefaultIfEmpty(0).Max());
        text.AppendLine(string.Create(Ci, $"{"method".PadRight(width)} {"rtol",7} {"evals",9} {"accepted",9} {"rejected",9} {"wall s",8} {"final t",11} {"err γ∞",9} {"err γ2",9} {"err align",9} {"err θ/‖θ‖",10} {"err t*",9}"));
        foreach (WorkPrecisionRow row in result.Rows)
        {
            SolveOutcome o = row.Outcome;
            SolveErrors e = row.Errors;
            text.AppendLine(string.Create(Ci, $"{o.Method.PadRight(width)} {o.RelTol,7:0.#e+0} {o.Evaluations,9} {o.Accepted,9} {o.Rejected,9} {o.WallSeconds,8:F1} {o.FinalTime,11:G6} {E(e.MarginLinf),9} {E(e.MarginL2),9} {E(e.Alignment),9} {E(e.Direction),10} {E(e.TargetTime),9}"));
        }

        return text.ToString();
    }

    /// <summary>The two figures: the largest error, and the ℓ∞ margin's error, against evaluations on log–log axes.</summary>
    public static IReadOnlyList<FigureSpec> Figures(WorkPrecisionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        string[] methods = result.Rows.Select(r => r.Outcome.Method).Distinct().ToArray();
        LineSeries Line(string method, Func<SolveErrors, double> error)
        {
            // Log axes: keep the positive finite points (an error of exactly 0 cannot be drawn).
            WorkPrecisionRow[] rows = result.Rows.Where(r => r.Outcome.Method == method && error(r.Errors) > 0 && double.IsFinite(error(r.Errors))).OrderBy(r => r.Outcome.Evaluations).ToArray();
            return new LineSeries(method, rows.Select(r => (double)r.Outcome.Evaluations).ToArray(), rows.Select(r => error(r.Errors)).ToArray());
        }

        string suffix = string.Create(Ci, $"{result.Name}, {result.Optimizer}; reference {result.Reference.Method} rtol {result.Reference.RelTol:0.#e+0}");
        return
        [
            new FigureSpec($"Work–precision: largest error (margins, alignment, θ/‖θ‖, target time) against gradient evaluations ({suffix})", "gradient evaluations", "largest error", methods.Select(m => Line(m, e => e.Max)).ToArray()) { LogX = true, LogY = true },
            new FigureSpec($"Work–precision: relative error of the final ℓ∞ margin ({suffix})", "gradient evaluations", "|Δγ∞|/γ∞", methods.Select(m => Line(m, e => e.MarginLinf)).ToArray()) { LogX = true, LogY = true },
        ];
    }

    private static string Describe(SolveErrors e) => string.Create(Ci, $"ℓ∞ margin {E(e.MarginLinf)}, ℓ2 margin {E(e.MarginL2)}, alignment {E(e.Alignment)}, θ/‖θ‖ {E(e.Direction)}, target time {E(e.TargetTime)} apart");

    private static string E(double x) => double.IsFinite(x) ? x.ToString("0.0e+0", Ci) : "—";

    private static object Solve(SolveOutcome o) => new
    {
        method = o.Method,
        rtol = o.RelTol,
        status = o.Status,
        finalTime = o.FinalTime,
        targetReached = o.TargetReached,
        evaluations = o.Evaluations,
        acceptedSteps = o.Accepted,
        rejectedSteps = o.Rejected,
        offFlowWindows = o.OffFlowWindows,
        wallSeconds = o.WallSeconds,
        marginLinf = Finite(o.MarginLinf),
        marginL2 = Finite(o.MarginL2),
        alignment = Finite(o.Alignment),
    };

    private static object Errors(SolveErrors e) => new
    {
        marginLinf = Finite(e.MarginLinf),
        marginL2 = Finite(e.MarginL2),
        alignment = Finite(e.Alignment),
        direction = Finite(e.Direction),
        targetTime = Finite(e.TargetTime),
        max = Finite(e.Max),
    };

    private static double? Finite(double x) => double.IsFinite(x) ? x : null;
}
