using System.Globalization;
using System.Text;
using System.Text.Json;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Flows.Discrete;
using ImplicitBias.Flow.Plotting;

namespace ImplicitBias.Flow.Experiments.Comparison;

/// <summary>
/// What <c>ibflow compare</c> writes: <c>comparison.csv</c> (one long table with an h column), <c>compare.json</c>
/// (the same object as <c>--json</c>), the plots <c>distance.html</c>, <c>cosine.html</c>, <c>margins.html</c>
/// and <c>error-vs-h.html</c>, <c>index.html</c> with all of them and the table, and the one plotly.min.js they share;
/// all written atomically. Also the terminal table.
/// </summary>
public static class ComparisonOutputs
{
    /// <summary>The long CSV: h, n, t, relative_distance, cosine, log_loss_discrete, log_loss_flow, margin_discrete, margin_flow.</summary>
    public const string CsvFile = "comparison.csv";

    /// <summary>The JSON summary (the object <c>--json</c> prints).</summary>
    public const string JsonFile = "compare.json";

    /// <summary>The page with the table and every figure.</summary>
    public const string IndexFile = "index.html";

    /// <summary>The plot files, in the order they are written (beside them: index.html and the shared plotly.min.js).</summary>
    public static IReadOnlyList<string> PlotFiles { get; } = ["distance.html", "cosine.html", "margins.html", "error-vs-h.html"];

    /// <summary>Writes the CSV, the JSON and the plots into <paramref name="directory"/> (created when missing).</summary>
    public static void WriteAll(ComparisonResult result, string directory)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(directory);
        Directory.CreateDirectory(directory);
        Csv(result).Write(Path.Combine(directory, CsvFile));
        AtomicFile.WriteAllText(Path.Combine(directory, JsonFile), ToJson(result) + Environment.NewLine);
        IReadOnlyList<FigureSpec> figures = Figures(result);
        for (int i = 0; i < figures.Count; i++)
        {
            PlotlyRenderer.WriteHtml(Path.Combine(directory, PlotFiles[i]), figures[i]);
        }

        PlotlyRenderer.WritePage(Path.Combine(directory, IndexFile), Page(result, figures));
    }

    /// <summary>
    /// The index page: the table of <see cref="FormatTable"/> (one row per h) with the summary sentences under it, then
    /// every figure.
    /// </summary>
    public static PlotPage Page(ComparisonResult result, IReadOnlyList<FigureSpec> figures)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(figures);
        CultureInfo ci = CultureInfo.InvariantCulture;
        IReadOnlyList<double> orders = result.ObservedOrders;
        var rows = result.Rows.Select((r, i) => (IReadOnlyList<string>)
        [
            r.H.ToString("G6", ci), r.Steps.ToString(ci), r.Error.ToString("0.000e+00", ci),
            double.IsFinite(orders[i]) ? orders[i].ToString("F3", ci) : "—", result.AsymptoticStart is int k && i >= k ? "yes" : "no",
            r.Cosine.ToString("F10", ci), r.LogLossDiscrete.ToString("F6", ci), r.LogLossFlow.ToString("F6", ci),
        ]).ToArray();
        var table = new PageTable(["h", "steps", "error at T", "observed order", "asymptotic", "cosine at T", "log L discrete", "log L flow"], rows);

        // The table's heading line and the lines after the rows (refinement, fitted order, verdict, Newton–Schulz).
        string[] lines = FormatTable(result).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new PlotPage(string.Create(ci, $"{result.Name}: discrete {result.Optimizer} against its flow"), [.. figures.Select((f, i) => (Path.GetFileNameWithoutExtension(PlotFiles[i]), f))])
        {
            Table = table,
            Notes = [lines[0], .. lines.Skip(2 + result.Rows.Count).Select(l => l.StartsWith("order: observed", StringComparison.Ordinal) ? "observed order: between this h and the previous one, log(e_prev/e)/log(h_prev/h)" : l)],
        };
    }

    /// <summary>The long table of all traces, coarsest h first.</summary>
    public static CsvTableWriter Csv(ComparisonResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        IEnumerable<(ComparisonTrace Trace, int K)> cells = result.Traces.SelectMany(tr => Enumerable.Range(0, tr.Time.Length).Select(k => (tr, k)));
        var rows = cells.ToArray();
        return new CsvTableWriter()
            .AddColumn("h", rows.Select(r => r.Trace.H).ToArray())
            .AddColumn("n", rows.Select(r => (long)Math.Round(r.Trace.Time[r.K] / r.Trace.H)).ToArray())
            .AddColumn("t", rows.Select(r => r.Trace.Time[r.K]).ToArray())
            .AddColumn("relative_distance", rows.Select(r => r.Trace.RelativeDistance[r.K]).ToArray())
            .AddColumn("cosine", rows.Select(r => r.Trace.Cosine[r.K]).ToArray())
            .AddColumn("log_loss_discrete", rows.Select(r => r.Trace.LogLossDiscrete[r.K]).ToArray())
            .AddColumn("log_loss_flow", rows.Select(r => r.Trace.LogLossFlow[r.K]).ToArray())
            .AddColumn("margin_discrete", rows.Select(r => r.Trace.MarginDiscrete[r.K]).ToArray())
            .AddColumn("margin_flow", rows.Select(r => r.Trace.MarginFlow[r.K]).ToArray());
    }

    /// <summary>
    /// The summary as one JSON object: <c>order</c> (fitted over the asymptotic range; null without one),
    /// <c>asymptoticFrom</c> (its coarsest h), <c>refinedSteps</c> (h added by halving), <c>refinementLimit</c>,
    /// <c>verdict</c> (the sentence), <c>time</c>, <c>optimizer</c>, <c>polar</c>, <c>rows</c> (h, steps, error,
    /// observedOrder against the previous h, asymptotic, cosine, logLossDiscrete, logLossFlow) and, for polar optimizers, <c>newtonSchulz</c>
    /// (oneUpdate, minSingularValue, maxSingularValue, h, trajectory, errorNewtonSchulz, errorExact). Non-finite numbers are null.
    /// </summary>
    public static string ToJson(ComparisonResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        NewtonSchulzReport? ns = result.NewtonSchulz;
        var document = new Dictionary<string, object?>
        {
            ["order"] = Finite(result.Order),
            ["time"] = result.Time,
            ["optimizer"] = result.Optimizer,
            ["seed"] = result.Seed,
            ["polar"] = PolarName(result.Polar),
            ["asymptoticFrom"] = Finite(result.AsymptoticFrom),
            ["refinedSteps"] = result.RefinedSteps.ToArray(),
            ["refinementLimit"] = result.RefinementLimit,
            ["verdict"] = Verdict(result),
            ["flow"] = new { method = result.Flow.Method, rtol = result.Flow.RelTol, acceptedSteps = result.Flow.AcceptedSteps, rejectedSteps = result.Flow.RejectedSteps, evaluations = result.Flow.Evaluations },
            ["rows"] = result.Rows.Select((r, i) => new
            {
                h = r.H,
                steps = r.Steps,
                error = Finite(r.Error),
                observedOrder = Finite(result.ObservedOrders[i]),
                asymptotic = result.AsymptoticStart is int k && i >= k,
                cosine = Finite(r.Cosine),
                logLossDiscrete = Finite(r.LogLossDiscrete),
                logLossFlow = Finite(r.LogLossFlow),
            }).ToArray(),
        };
        if (ns is not null)
        {
            document["newtonSchulz"] = new
            {
                oneUpdate = Finite(ns.OneUpdate),
                minSingularValue = Finite(ns.MinSingularValue),
                maxSingularValue = Finite(ns.MaxSingularValue),
                h = ns.H,
                trajectory = Finite(ns.Trajectory),
                errorNewtonSchulz = Finite(ns.ErrorNewtonSchulz),
                errorExact = Finite(ns.ErrorExact),
            };
        }

        return JsonSerializer.Serialize(document);
    }

    /// <summary>
    /// The terminal table: h, steps, error at T, observed order against the previous h, cosine at T, log L discrete and
    /// flow; the h added by refinement; the order fitted over the asymptotic range; the verdict in words; Newton–Schulz.
    /// </summary>
    public static string FormatTable(ComparisonResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var text = new StringBuilder();
        CultureInfo ci = CultureInfo.InvariantCulture;
        text.AppendLine(string.Create(ci, $"{result.Name}: {result.Optimizer} (seed {result.Seed}), discrete ({PolarName(result.Polar)} polar) against the flow ({result.Flow.Method}, rtol {result.Flow.RelTol:0.##e+0}, {result.Flow.AcceptedSteps} steps) up to T = {result.Time:G6}"));
        text.AppendLine(string.Create(ci, $"{"h",10} {"steps",8} {"error at T",12} {"order",7} {"cosine at T",14} {"log L discrete",15} {"log L flow",12}"));
        IReadOnlyList<double> orders = result.ObservedOrders;
        for (int i = 0; i < result.Rows.Count; i++)
        {
            ComparisonRow r = result.Rows[i];
            string order = double.IsFinite(orders[i]) ? orders[i].ToString("F3", ci) : "—";
            string mark = result.AsymptoticStart is int k && i >= k ? " *" : string.Empty;
            text.AppendLine(string.Create(ci, $"{r.H,10:G6} {r.Steps,8} {r.Error,12:0.000e+00} {order,7} {r.Cosine,14:F10} {r.LogLossDiscrete,15:F6} {r.LogLossFlow,12:F6}{mark}"));
        }

        text.AppendLine("order: observed between this h and the previous one, log(e_prev/e)/log(h_prev/h); * marks the asymptotic range");
        if (result.RefinedSteps.Count > 0)
        {
            text.AppendLine(string.Create(ci, $"refined: h = {string.Join(", ", result.RefinedSteps.Select(h => h.ToString("G6", ci)))} added because the orders of the coarser steps disagreed"));
        }

        text.AppendLine(result.AsymptoticStart is int start && double.IsFinite(result.Order)
            ? string.Create(ci, $"fitted order over h = {result.Rows[start].H:G6} … {result.Rows[^1].H:G6} (slope of log error against log h): {result.Order:F3}")
            : "fitted order: none (no asymptotic range; an order fitted over all h would mislead)");
        text.AppendLine(Verdict(result));
        if (result.NewtonSchulz is { } ns)
        {
            text.AppendLine(string.Create(ci, $"Newton–Schulz vs exact U Vᵀ: one update {ns.OneUpdate:0.000e+00} relative (NS singular values in [{ns.MinSingularValue:F3}, {ns.MaxSingularValue:F3}])"));
            text.AppendLine(string.Create(ci, $"  trajectories at T (h = {ns.H:G6}): ‖θ_NS − θ_exact‖/‖θ_exact‖ = {ns.Trajectory:0.000e+00}; error against the flow: NS {ns.ErrorNewtonSchulz:0.000e+00}, exact {ns.ErrorExact:0.000e+00}"));
        }

        return text.ToString();
    }

    /// <summary>
    /// The figures: relative distance and cosine against t (log t; t = 0 is left out), the ℓ2 hard margin against
    /// log L for the flow and each h, and the error at T against h on log–log axes with the fitted C hᵖ.
    /// </summary>
    public static IReadOnlyList<FigureSpec> Figures(ComparisonResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        string suffix = string.Create(CultureInfo.InvariantCulture, $"{result.Optimizer}, T = {result.Time:G6}");
        LineSeries[] distance = result.Traces.Select(tr => Positive(Label(tr), tr.Time, tr.RelativeDistance)).ToArray();
        LineSeries[] cosine = result.Traces.Select(tr => Positive(Label(tr), tr.Time, tr.Cosine)).ToArray();

        var margins = new List<LineSeries> { new("flow", result.Flow.LogLoss, result.Flow.Margin) };
        margins.AddRange(result.Traces.Select(tr => new LineSeries(Label(tr), tr.LogLossDiscrete, tr.MarginDiscrete) { Dash = LineDash.Dash }));

        ComparisonRow[] all = result.Rows.Where(r => r.Error > 0 && double.IsFinite(r.Error)).ToArray();
        var errors = new List<LineSeries> { new("error at T", all.Select(r => r.H).ToArray(), all.Select(r => r.Error).ToArray()) };

        // The fit is drawn over the asymptotic range it was made on.
        ComparisonRow[] usable = result.AsymptoticStart is int start ? result.Rows.Skip(start).Where(r => r.Error > 0 && double.IsFinite(r.Error)).ToArray() : [];
        if (double.IsFinite(result.Order) && usable.Length >= 2)
        {
            // The fitted line through the geometric means: log C = mean(log e) − p mean(log h).
            double p = result.Order;
            double logC = usable.Average(r => Math.Log(r.Error)) - (p * usable.Average(r => Math.Log(r.H)));
            double[] h = usable.Select(r => r.H).ToArray();
            errors.Add(new LineSeries(string.Create(CultureInfo.InvariantCulture, $"fit C·h^p, p = {p:F3}"), h, h.Select(x => Math.Exp(logC + (p * Math.Log(x)))).ToArray()) { Dash = LineDash.Dash });
        }

        return
        [
            new FigureSpec($"Relative distance ‖θ_n − θ(t_n)‖₂/‖θ(t_n)‖₂ ({suffix})", "t", "relative distance", distance) { LogX = true, LogY = true },
            new FigureSpec($"Cosine between θ_n and θ(t_n) ({suffix})", "t", "cosine", cosine) { LogX = true },
            new FigureSpec($"ℓ2 hard margin q_min/‖θ‖₂^L against log L ({suffix})", "log L", "q_min / ‖θ‖₂^L", margins) { ReverseX = true },
            new FigureSpec(double.IsFinite(result.Order) ? string.Create(CultureInfo.InvariantCulture, $"Error at T against h (order {result.Order:F3} from h = {result.AsymptoticFrom:G6} on; {suffix})") : $"Error at T against h (no asymptotic range; {suffix})", "h", "‖θ_N − θ(T)‖₂/‖θ(T)‖₂", errors) { LogX = true, LogY = true },
        ];
    }

    /// <summary>
    /// In words, from which h on the discrete optimizer follows its flow (the asymptotic range and its order), or why no
    /// order is given.
    /// </summary>
    public static string Verdict(ComparisonResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        CultureInfo ci = CultureInfo.InvariantCulture;
        string agreement = string.Create(ci, $"±{DiscretizationComparison.OrderAgreement:G}");
        if (result.AsymptoticStart is not int start || !double.IsFinite(result.Order))
        {
            string refined = result.RefinedSteps.Count > 0 ? $" after halving h {result.RefinedSteps.Count} time(s)" : string.Empty;
            string limit = result.RefinementLimit is { } l ? $" (stopped: {l})" : string.Empty;
            double next = result.Rows[^1].H / 2;
            return string.Create(ci, $"No asymptotic range: the observed orders of the finest step sizes still differ by more than {agreement}{refined}{limit}, so h is not yet small enough for the discrete {result.Optimizer} to follow its flow at a steady order; try smaller steps (e.g. --h {next:G6},{next / 2:G6},{next / 4:G6}) or a larger --refine.");
        }

        double from = result.Rows[start].H;
        return result.Order >= 0.5
            ? string.Create(ci, $"From h = {from:G6} on, the discrete {result.Optimizer} follows its flow: its error at T falls like h^{result.Order:F2} (the observed orders of h = {from:G6} … {result.Rows[^1].H:G6} agree within {agreement}).")
            : string.Create(ci, $"From h = {from:G6} on, the observed orders agree within {agreement} but are about {result.Order:F2}: the error at T does not fall with h, so the discrete {result.Optimizer} does not approach this flow (an approximate U Vᵀ such as Newton–Schulz, or a flow with the smoothed sign, differs from the discrete update by more than O(h)).");
    }

    /// <summary>The command-line word for a polar method.</summary>
    public static string PolarName(PolarMethod polar) => polar == PolarMethod.NewtonSchulz ? "newton-schulz" : "exact";

    private static string Label(ComparisonTrace tr) => string.Create(CultureInfo.InvariantCulture, $"h = {tr.H:G6}");

    // A log t axis cannot show t = 0; the initial point (distance 0, cosine 1) is left out rather than drawn as a gap.
    private static LineSeries Positive(string name, double[] t, double[] y)
    {
        int[] keep = Enumerable.Range(0, t.Length).Where(k => t[k] > 0).ToArray();
        return new LineSeries(name, keep.Select(k => t[k]).ToArray(), keep.Select(k => y[k]).ToArray());
    }

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;
}
