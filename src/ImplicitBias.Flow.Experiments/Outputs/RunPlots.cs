using System.Globalization;
using System.Text.Json.Nodes;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Plotting;

namespace ImplicitBias.Flow.Experiments.Outputs;

/// <summary>One saved run to draw: its trajectory and the group (optimizer) it belongs to.</summary>
/// <param name="Group">Legend label shared by the seeds of one optimizer.</param>
/// <param name="Trajectory">The run's observations (its trajectory.csv, read by <see cref="TrajectoryFormat"/>).</param>
public sealed record PlottedRun(string Group, Trajectory Trajectory)
{
    /// <summary>The run's folder: its summary.json gives the run's line in the index's table; null for none.</summary>
    public string? Folder { get; init; }
}

/// <summary>Where <see cref="RunPlots.Write(string, IReadOnlyList{PlottedRun}, RunPlotOptions)"/> puts the shared script, and the index's title.</summary>
public sealed record RunPlotOptions
{
    /// <summary>
    /// The folder of the shared plotly.js (written there when missing; the pages load it by a relative path); null
    /// for the plots folder itself. An experiment of several runs points every run's plots at one copy.
    /// </summary>
    public string? ScriptDirectory { get; init; }

    /// <summary>The heading of index.html; null for "Runs" with the groups' names.</summary>
    public string? Title { get; init; }
}

/// <summary>
/// The standard figures of a run or of several runs overlaid (one line per optimizer; several seeds drawn
/// as a mean line and a 95% confidence band): margins against loss (Fig. 1a), alignment and the lemma ratios
/// against t with their predicted limit 1, cosine to the last iterate against t/t_last (Fig. 1b), and the
/// solver's step size and evaluations. Each figure is one HTML file, and <see cref="IndexFile"/> shows them all on one
/// page under a table of each run's outcome (read from its summary.json); all load one shared copy of plotly.js.
/// </summary>
public static class RunPlots
{
    /// <summary>The page with every figure and the summary table.</summary>
    public const string IndexFile = "index.html";

    /// <summary>Writes every figure, index.html and plotly.js into <paramref name="directory"/>; returns the pages written.</summary>
    public static IReadOnlyList<string> Write(string directory, IReadOnlyList<PlottedRun> runs) => Write(directory, runs, new RunPlotOptions());

    /// <summary>Writes every figure and index.html into <paramref name="directory"/>, sharing plotly.js as <paramref name="options"/> says; returns the pages written.</summary>
    public static IReadOnlyList<string> Write(string directory, IReadOnlyList<PlottedRun> runs, RunPlotOptions options)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(options);
        Directory.CreateDirectory(directory);
        string scripts = options.ScriptDirectory ?? directory;
        var files = new List<string>();
        IReadOnlyList<(string Name, FigureSpec Figure)> figures = Figures(runs);
        foreach ((string name, FigureSpec figure) in figures)
        {
            string path = Path.Combine(directory, name + ".html");
            PlotlyRenderer.WriteHtml(path, figure, scripts);
            files.Add(path);
        }

        string title = options.Title ?? $"Runs: {string.Join(", ", runs.Select(r => r.Group).Distinct())}";
        string index = Path.Combine(directory, IndexFile);
        PlotlyRenderer.WritePage(index, new PlotPage(title, figures) { Table = SummaryTable(runs) }, scripts);
        files.Add(index);
        return files;
    }

    /// <summary>
    /// One line per run with a summary.json in its <see cref="PlottedRun.Folder"/>: status, final t and log L, the hard
    /// and soft margins in the optimizer's norm, the ℓ2 hard margin, the right-hand-side evaluations and the message.
    /// Null when no run has one.
    /// </summary>
    public static PageTable? SummaryTable(IReadOnlyList<PlottedRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var rows = new List<IReadOnlyList<string>>();
        foreach (PlottedRun run in runs)
        {
            string? file = run.Folder is null ? null : Path.Combine(run.Folder, "summary.json");
            if (file is null || !File.Exists(file) || JsonOutput.Read(file) is not JsonObject summary)
            {
                continue;
            }

            JsonNode? final = summary["final"];
            string seed = summary["seed"]?.ToString() is { } s ? $" (seed {s})" : string.Empty;
            rows.Add(
            [
                $"{summary["optimizer"]?.ToString() ?? run.Group}{seed}",
                summary["status"]?.ToString() ?? "?",
                Number(final?["t"]),
                Number(final?["logLoss"]),
                Number(final?["margins"]?["own"]),
                Number(final?["softMargins"]?["own"]),
                Number(final?["margins"]?["l2"]),
                summary["stats"]?["rhsEvaluations"]?.ToString() ?? "—",
                summary["message"]?.ToString() ?? string.Empty,
            ]);
        }

        return rows.Count == 0
            ? null
            : new PageTable(["run", "status", "final t", "final log L", "margin γ (own norm)", "soft margin γ̃ (own norm)", "margin γ (ℓ2)", "gradient evaluations", "message"], rows);
    }

    private static string Number(JsonNode? node) =>
        node is JsonValue v && v.TryGetValue(out double d) ? d.ToString("G6", CultureInfo.InvariantCulture) : "—";

    /// <summary>The figures (file stem, figure) for the runs; figures whose quantities no run has are left out.</summary>
    public static IReadOnlyList<(string Name, FigureSpec Figure)> Figures(IReadOnlyList<PlottedRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var figures = new List<(string, FigureSpec)>();
        bool tinyLoss = runs.Any(r => r.Trajectory.Any(o => o.LogLoss < -690));
        double[] Loss(Trajectory r) => tinyLoss ? r.Values(o => o.LogLoss / Math.Log(10)) : r.Values(o => Math.Exp(o.LogLoss));
        double[] Time(Trajectory r) => r.Values(o => o.Time);

        // Fig. 1a: margins against loss, one figure per norm. A log axis of L cannot show L < 1e-300, so
        // very long runs switch to log10 L on a linear axis (the same picture).
        foreach (ObservedNorm norm in new[] { ObservedNorm.Own, ObservedNorm.L2, ObservedNorm.LInf, ObservedNorm.Msp })
        {
            if (!runs.Any(r => Has(r.Trajectory, norm)))
            {
                continue;
            }

            List<LineSeries> series = Lines(runs, Loss, PerNorm(norm, n => n.HardMargin), " γ", logX: !tinyLoss);
            series.AddRange(Lines(runs, Loss, PerNorm(norm, n => n.SoftMargin), " γ̃", logX: !tinyLoss, dash: LineDash.Dash));
            figures.Add(($"margins-{TrajectoryFormat.Suffix(norm)}", new FigureSpec($"Normalized margins ({NormTitle(norm)}) against the loss", tinyLoss ? "log10 L" : "loss L", "margin", series)
            {
                LogX = !tinyLoss,
                ReverseX = true,
            }));
        }

        figures.Add(("alignment", new FigureSpec("Alignment ⟨θ/‖θ‖, −g/‖g‖⋆⟩ in the optimizer's norm", "t", "alignment", Lines(runs, Time, PerNorm(ObservedNorm.Own, n => n.Alignment), string.Empty, logX: true))
        {
            LogX = true,
            ReferenceLines = [new ReferenceLine(1, "predicted limit 1")],
        }));

        var ratios = new List<LineSeries>();
        ratios.AddRange(Lines(runs, Time, PerNorm(ObservedNorm.Own, n => n.NormOverEtaIntegral), " ‖θ‖/∫η (Lemma C.10)", logX: true));
        ratios.AddRange(Lines(runs, Time, Finished(PerNorm(ObservedNorm.Own, n => n.LemmaC10Ratio)), " φ⁻¹(log 1/L)/(γ∞‖θ‖^L) (Lemma C.10)", logX: true, dash: LineDash.Dash));
        ratios.AddRange(Lines(runs, Time, r => r.Values(o => o.DriftLInfOverEtaIntegral), " ‖θ−θ0‖∞/∫η (Lemma B.10)", logX: true, dash: LineDash.Dot));

        // One momentum line per part: a composite has one per part with a momentum (Muon-Adam's Lemma C.19 curves).
        foreach (string? part in runs.SelectMany(r => r.Trajectory.Count > 0 ? r.Trajectory[0].Parts : []).Select(p => p.Part).Distinct())
        {
            string of = part is null ? string.Empty : $" of {part}";
            ratios.AddRange(Lines(runs, Time, r => PartIndex(r, part) is int k ? r.Values(o => o.Parts[k].MomentumRatio) : null, $" ‖m‖⋆/‖g‖⋆{of} (Lemma C.19)", logX: true, dash: LineDash.DashDot));
        }

        figures.Add(("ratios", new FigureSpec("The lemmas' ratios against t", "t", "ratio", ratios)
        {
            LogX = true,

            // Early transients are orders of magnitude away from the limit 1; a log axis shows both.
            LogY = true,
            ReferenceLines = [new ReferenceLine(1, "predicted limit 1")],
        }));

        figures.Add(("cosine-to-last", new FigureSpec("Cosine similarity to the last iterate (Fig. 1b)", "t / t_last", "cosine", Lines(runs, r => r.Values(o => o.TimeOverLast), Finished(r => r.Values(o => o.CosineToLast)), string.Empty, logX: false))
        {
            ReferenceLines = [new ReferenceLine(0.99, "0.99")],
        }));

        // Save:Sharpness: λmax(P⁻¹∇²L) against the discrete optimizer's threshold (dashed); above it the discrete
        // optimizer is past its edge of stability on the quadratic model.
        Func<Trajectory, double[]?> Sharpness(Func<SharpnessObservation, double> value) => r => r.Count > 0 && r[0].Sharpness is not null ? r.Values(o => value(o.Sharpness!)) : null;
        var sharpness = Lines(runs, Time, Sharpness(s => s.Largest), " λmax(P⁻¹∇²L)", logX: true);
        if (sharpness.Count > 0)
        {
            sharpness.AddRange(Lines(runs, Time, Sharpness(s => s.Threshold), " discrete threshold", logX: true, dash: LineDash.Dash));
            figures.Add(("sharpness", new FigureSpec("Preconditioned sharpness against the discrete optimizer's stability threshold", "t", "λmax(P⁻¹∇²L)", sharpness) { LogX = true, LogY = true }));
        }

        var solver = Lines(runs, Time, r => r.Values(o => o.Counters.StepSize), " step size", logX: true);
        figures.Add(("step-size", new FigureSpec("Accepted step size against t", "t", "step size h", solver) { LogX = true, LogY = true }));
        figures.Add(("evaluations", new FigureSpec("Gradient evaluations against t", "t", "evaluations", Lines(runs, Time, r => r.Values(o => o.Counters.Evaluations), string.Empty, logX: true)) { LogX = true, LogY = true }));
        return figures.Where(f => f.Item2.Series.Count > 0).ToArray();
    }

    private static bool Has(Trajectory r, ObservedNorm norm) => r.Count > 0 && r[0].In(norm) is not null;

    // A per-norm quantity of a run, null when the run does not measure that norm.
    private static Func<Trajectory, double[]?> PerNorm(ObservedNorm norm, Func<NormObservation, double> value) =>
        r => Has(r, norm) ? r.Values(o => value(o.In(norm)!)) : null;

    // A post-run quantity, null for a run that was not finished (its file has no post-run columns).
    private static Func<Trajectory, double[]?> Finished(Func<Trajectory, double[]?> values) => r => r.Finished ? values(r) : null;

    private static int? PartIndex(Trajectory r, string? part)
    {
        IReadOnlyList<PartObservation> parts = r.Count > 0 ? r[0].Parts : [];
        for (int k = 0; k < parts.Count; k++)
        {
            if (parts[k].Part == part)
            {
                return k;
            }
        }

        return null;
    }

    private static string NormTitle(ObservedNorm norm) => norm switch
    {
        ObservedNorm.Own => "optimizer's norm",
        ObservedNorm.L2 => "ℓ2",
        ObservedNorm.LInf => "ℓ∞",
        _ => "msp",
    };

    private static List<LineSeries> Lines(IReadOnlyList<PlottedRun> runs, Func<Trajectory, double[]> x, Func<Trajectory, double[]?> y, string suffix, bool logX, LineDash dash = LineDash.Solid)
    {
        var lines = new List<LineSeries>();
        foreach (IGrouping<string, (PlottedRun Run, double[] Y)> group in runs.Where(r => r.Trajectory.Count > 0).Select(r => (Run: r, Y: y(r.Trajectory))).Where(r => r.Y is not null).Select(r => (r.Run, r.Y!)).GroupBy(r => r.Run.Group))
        {
            (PlottedRun Run, double[] Y)[] members = group.ToArray();
            if (members.Length == 1)
            {
                (double[] xs, double[] ys) = Finite(x(members[0].Run.Trajectory), members[0].Y, logX);
                lines.Add(new LineSeries(group.Key + suffix, xs, ys) { Dash = dash });
                continue;
            }

            // Several seeds: interpolate onto the x range they share, mean and 95% band (Student t).
            var sampled = members.Select(m => Finite(x(m.Run.Trajectory), m.Y, logX))
                .Select(Monotone)
                .Where(p => p.X.Length >= 2)
                .Select(p => new SampledSeries(p.X, p.Y))
                .ToArray();
            if (sampled.Length < 2)
            {
                continue;
            }

            double[] grid;
            try
            {
                grid = SeedAggregate.CommonGrid(sampled, 200, logSpaced: logX);
            }
            catch (ArgumentException)
            {
                continue; // the seeds share no x range
            }

            AggregatedSeries aggregate = SeedAggregate.Aggregate(sampled, grid, 0.95, interpolateInLogX: logX);
            lines.Add(aggregate.ToLineSeries($"{group.Key}{suffix} (mean of {sampled.Length} seeds, 95% band)") with { Dash = dash });
        }

        return lines;
    }

    private static (double[] X, double[] Y) Finite(double[] x, double[] y, bool logX)
    {
        var keep = Enumerable.Range(0, x.Length).Where(i => double.IsFinite(x[i]) && double.IsFinite(y[i]) && (!logX || x[i] > 0)).ToArray();
        return (keep.Select(i => x[i]).ToArray(), keep.Select(i => y[i]).ToArray());
    }

    private static (double[] X, double[] Y) Monotone((double[] X, double[] Y) p)
    {
        // Interpolation needs strictly monotone x; keep the first point of any run of repeated x.
        var xs = new List<double>();
        var ys = new List<double>();
        int direction = 0;
        for (int i = 0; i < p.X.Length; i++)
        {
            if (xs.Count > 0)
            {
                int d = Math.Sign(p.X[i] - xs[^1]);
                if (d == 0 || (direction != 0 && d != direction))
                {
                    continue;
                }

                direction = d;
            }

            xs.Add(p.X[i]);
            ys.Add(p.Y[i]);
        }

        return (xs.ToArray(), ys.ToArray());
    }
}
