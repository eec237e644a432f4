using System.Globalization;
using System.Text.Json.Nodes;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Experiments.Outputs;
using ImplicitBias.Flow.Plotting;

namespace ImplicitBias.Flow.Experiments.Reports;

/// <summary>
/// The report of a sweep (or of any set of run folders): per setting (activation, width, data), Fig. 1a (final hard
/// margins per optimizer in ℓ2, ℓ∞, msp and each optimizer's own norm, mean and 95 % CI over seeds, flows and discrete
/// runs side by side), Fig. 1b (cosine to the last iterate against t / t_last, mean band per optimizer), margins
/// against the loss, and the paper's findings with a verdict each; one self-contained HTML file and report.json.
/// </summary>
public static class SweepReport
{
    /// <summary>The figures of one report: every panel's name and figure, in page order.</summary>
    public static IReadOnlyList<(string Name, FigureSpec Figure)> Figures(IReadOnlyList<ReportRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var figures = new List<(string, FigureSpec)>();
        ReportRun[] usable = runs.Where(r => r.Usable).ToArray();
        string[] settings = usable.Select(r => r.Setting).Distinct().Order(StringComparer.Ordinal).ToArray();
        for (int s = 0; s < settings.Length; s++)
        {
            ReportRun[] these = usable.Where(r => r.Setting == settings[s]).ToArray();
            string[] optimizers = these.Select(r => r.Optimizer).Distinct().Order(StringComparer.Ordinal).ToArray();
            string axis = "optimizer: " + string.Join(", ", optimizers.Select((o, i) => $"{i + 1} = {o}"));
            foreach (ObservedNorm norm in ReportRun.Norms)
            {
                figures.Add(($"s{s + 1}-margins-{TrajectoryFormat.Suffix(norm)}", MarginPanel(settings[s], $"hard margin ({Norm(norm)})", r => r.Margins[norm], these, optimizers, axis)));
            }

            // Each composite optimizer's norm (Theorem 3.7) on every optimizer's final θ.
            foreach (CompositeMargin composite in CompositeMargin.In(these))
            {
                figures.Add(($"s{s + 1}-margins-{composite.Key}", MarginPanel(settings[s], $"hard margin ({composite.Description}, {composite.Optimizer}'s norm)", r => composite.Of(r), these, optimizers, axis)));
            }

            // Soft margins γ̃ (Eq. 10), the quantity the theorems show increases.
            foreach (ObservedNorm norm in ReportRun.Norms.Where(n => these.Any(r => double.IsFinite(r.SoftMargins[n]))))
            {
                figures.Add(($"s{s + 1}-soft-margins-{TrajectoryFormat.Suffix(norm)}", MarginPanel(settings[s], $"soft margin ({Norm(norm)})", r => r.SoftMargins[norm], these, optimizers, axis)));
            }

            figures.Add(($"s{s + 1}-cosine", CosinePanel(settings[s], these)));
            foreach (ObservedNorm norm in new[] { ObservedNorm.L2, ObservedNorm.LInf, ObservedNorm.Msp })
            {
                figures.Add(($"s{s + 1}-margin-vs-loss-{TrajectoryFormat.Suffix(norm)}", MarginAgainstLoss(settings[s], norm, these)));
            }
        }

        return figures;
    }

    /// <summary>Reads every run under <paramref name="root"/> and writes the HTML report and report.json beside it; returns the findings.</summary>
    /// <param name="root">A sweep folder (or any folder of run folders).</param>
    /// <param name="htmlPath">The report's path (report.json is written beside it).</param>
    public static IReadOnlyList<Finding> Write(string root, string htmlPath)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(htmlPath);
        IReadOnlyList<ReportRun> runs = ReportRun.ReadAll(root);
        IReadOnlyList<Finding> findings = Findings.Evaluate(runs);
        var table = new PageTable(
            ["finding", "verdict", "statistic", "values"],
            findings.Select(f => (IReadOnlyList<string>)[f.Name, f.Verdict, f.Statistic, string.Join("; ", f.Values.Select(p => $"{p.Key}: {p.Value}"))]).ToArray());
        int unusable = runs.Count(r => !r.Usable);
        ReportRun[] offFlow = runs.Where(r => r.Usable && r.OffFlowWindows > 0).ToArray();
        var page = new PlotPage($"Report: {Path.GetFileName(Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar))}", Figures(runs))
        {
            Table = table,
            Notes =
            [
                $"{runs.Count} run folder(s) under {root}; {runs.Count - unusable} finished and used, {unusable} unfinished or failed and left out ({string.Join(", ", runs.Where(r => !r.Usable).Select(r => $"{r.Folder}: {r.Status}").Take(10))}).",
                offFlow.Length == 0
                    ? "No used run's steps left the flow (summary.json → logLossDrift.offFlowWindows is 0 in every one)."
                    : $"{offFlow.Length} used run(s) had steps that left the flow in some window (zigzag across a valley narrower than the tolerance; their tolerances were tightened from there, but the window's lag stays in their values): {string.Join(", ", offFlow.Select(r => $"{r.Folder} ({r.OffFlowWindows})").Take(10))}. Check them against a tighter Solver:RelTol.",
                "Verdicts: an optimizer has the largest margin when, against every other optimizer, either its 95 % confidence interval over seeds (Student t) lies above the other's, or the 95 % t interval of the paired differences over the seeds both share (same data and θ(0)) lies above zero; it does not when some other optimizer is above it in the same sense; otherwise inconclusive.",
                "Composite norms (e.g. Muon-Adam's max{(η0ᴬ/η0ᴹ)‖W‖msp, ‖u‖∞}) are evaluated on every run's theta_final.npy: γ_N = γ_2 (‖θ‖_2 / ‖θ‖_N)^L, since q_min is the same in every norm.",
                "Fig. 1a panels: each optimizer's mean final hard margin (line) and 95 % CI over seeds (band), flows on the left of each optimizer's slot, discrete runs (dashed) on the right. 'own' is each optimizer's own norm, so its values compare runs of one optimizer only.",
            ],
        };
        string? folder = Path.GetDirectoryName(Path.GetFullPath(htmlPath));
        Directory.CreateDirectory(folder!);
        AtomicFile.WriteAllText(htmlPath, PlotlyRenderer.ToStandalonePageHtml(page));
        JsonOutput.Write(Path.Combine(folder!, "report.json"), ToJson(findings, runs));
        return findings;
    }

    /// <summary>report.json: <c>{"findings":[{"finding","verdict","statistic","values"}],"runs":[…]}</c>.</summary>
    public static JsonObject ToJson(IReadOnlyList<Finding> findings, IReadOnlyList<ReportRun> runs)
    {
        ArgumentNullException.ThrowIfNull(findings);
        ArgumentNullException.ThrowIfNull(runs);
        var f = new JsonArray();
        foreach (Finding x in findings)
        {
            var values = new JsonObject();
            foreach ((string k, string v) in x.Values)
            {
                values[k] = v;
            }

            f.Add(new JsonObject { ["finding"] = x.Name, ["verdict"] = x.Verdict, ["statistic"] = x.Statistic, ["values"] = values });
        }

        var r = new JsonArray();
        foreach (ReportRun run in runs)
        {
            var margins = new JsonObject();
            var soft = new JsonObject();
            foreach (ObservedNorm n in ReportRun.Norms)
            {
                margins[TrajectoryFormat.Suffix(n)] = JsonOutput.Number(run.Margins[n]);
                soft[TrajectoryFormat.Suffix(n)] = JsonOutput.Number(run.SoftMargins[n]);
            }

            r.Add(new JsonObject
            {
                ["folder"] = run.Folder,
                ["optimizer"] = run.Optimizer,
                ["seed"] = run.Seed,
                ["kind"] = run.Kind,
                ["setting"] = run.Setting,
                ["status"] = run.Status,
                ["used"] = run.Usable,
                ["offFlowWindows"] = run.OffFlowWindows,
                ["margins"] = margins,
                ["softMargins"] = soft,
                ["secondHalfMinCosineToLast"] = JsonOutput.Number(run.SecondHalfMinCosineToLast),
            });
        }

        return new JsonObject { ["findings"] = f, ["runs"] = r };
    }

    // Each optimizer k owns the slot [k + 0.5, k + 1.5]: its flows' mean as a short line on the left half, its
    // discrete runs' (dashed) on the right, each with its CI as a band: a CI plot drawn with line figures.
    private static FigureSpec MarginPanel(string setting, string quantity, Func<ReportRun, double> value, IReadOnlyList<ReportRun> runs, string[] optimizers, string axis)
    {
        var series = new List<LineSeries>();
        for (int k = 0; k < optimizers.Length; k++)
        {
            foreach (string kind in new[] { "flow", "discrete" })
            {
                double[] values = runs.Where(r => r.Optimizer == optimizers[k] && r.Kind == kind).Select(value).ToArray();
                if (values.Length == 0)
                {
                    continue;
                }

                Interval ci = Interval.Of(values);
                double x0 = kind == "flow" ? k + 0.6 : k + 1.05, x1 = x0 + 0.35;
                series.Add(new LineSeries($"{optimizers[k]} ({kind})", [x0, x1], [ci.Mean, ci.Mean])
                {
                    Lower = [ci.Lower, ci.Lower],
                    Upper = [ci.Upper, ci.Upper],
                    Dash = kind == "flow" ? LineDash.Solid : LineDash.Dash,
                });
            }
        }

        return new FigureSpec($"Fig. 1a, {setting}: final {quantity}, mean and 95 % CI over seeds", axis, quantity, series);
    }

    private static FigureSpec CosinePanel(string setting, IReadOnlyList<ReportRun> runs)
    {
        var series = new List<LineSeries>();
        foreach (IGrouping<(string Optimizer, string Kind), ReportRun> g in runs.Where(r => r.Trajectory is { Finished: true, Count: >= 2 })
            .GroupBy(r => (r.Optimizer, r.Kind)).OrderBy(g => g.Key.Optimizer, StringComparer.Ordinal).ThenBy(g => g.Key.Kind == "discrete"))
        {
            SampledSeries[] sampled = g.Select(r => Monotone(r.Trajectory!.Values(o => o.TimeOverLast), r.Trajectory!.Values(o => o.CosineToLast))).Where(s => s.X.Count >= 2).ToArray();
            if (sampled.Length == 0)
            {
                continue;
            }

            double[] grid = SeedAggregate.CommonGrid(sampled, 101);
            LineSeries line = SeedAggregate.Aggregate(sampled, grid).ToLineSeries($"{g.Key.Optimizer} ({g.Key.Kind})");
            series.Add(g.Key.Kind == "discrete" ? line with { Dash = LineDash.Dash } : line);
        }

        return new FigureSpec($"Fig. 1b, {setting}: cosine to the last iterate, mean and 95 % band over seeds", "t / t_last", "cos(θ(t), θ(t_last))", series)
        {
            ReferenceLines = [new ReferenceLine(Findings.CosineThreshold, "0.99")],
        };
    }

    // Margins against the loss over the run (Fig. 2's lower row): the first seed of each optimizer, −log L growing to the right.
    private static FigureSpec MarginAgainstLoss(string setting, ObservedNorm norm, IReadOnlyList<ReportRun> runs)
    {
        var series = new List<LineSeries>();
        foreach (IGrouping<(string Optimizer, string Kind), ReportRun> g in runs.Where(r => r.Trajectory is { Count: > 0 } t && t[0].In(norm) is not null)
            .GroupBy(r => (r.Optimizer, r.Kind)).OrderBy(g => g.Key.Optimizer, StringComparer.Ordinal).ThenBy(g => g.Key.Kind == "discrete"))
        {
            ReportRun first = g.OrderBy(r => r.Seed).First();
            double[] x = first.Trajectory!.Values(o => -o.LogLoss);
            series.Add(new LineSeries($"{g.Key.Optimizer} ({g.Key.Kind}, seed {first.Seed})", x, first.Trajectory.Values(o => o.In(norm)!.HardMargin)) { Dash = g.Key.Kind == "discrete" ? LineDash.Dash : LineDash.Solid });
        }

        return new FigureSpec($"{setting}: hard margin ({Norm(norm)}) against the loss (first seed)", "−log L", $"hard margin ({Norm(norm)})", series);
    }

    // t/t_last rises along a run; keep the strictly increasing, finite samples (a resumed run may repeat a time).
    private static SampledSeries Monotone(double[] x, double[] y)
    {
        var xs = new List<double>();
        var ys = new List<double>();
        for (int i = 0; i < x.Length; i++)
        {
            if (double.IsFinite(x[i]) && double.IsFinite(y[i]) && (xs.Count == 0 || x[i] > xs[^1]))
            {
                xs.Add(x[i]);
                ys.Add(y[i]);
            }
        }

        return new SampledSeries(xs, ys);
    }

    private static string Norm(ObservedNorm norm) => norm switch
    {
        ObservedNorm.L2 => "ℓ2",
        ObservedNorm.LInf => "ℓ∞",
        ObservedNorm.Msp => "msp",
        _ => "own norm",
    };

    /// <summary>A number as the report prints it.</summary>
    public static string Format(double value) => value.ToString("G4", CultureInfo.InvariantCulture);
}
