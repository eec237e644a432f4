using ImplicitBias.Flow.Analysis.Kkt;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Core.Geometry;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Evaluation;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Analysis.Verification;

/// <summary>The KKT certificates of a final direction, side by side (Definition C.4).</summary>
/// <param name="Results">ℓ2, ℓ∞, msp (when θ has more than one block) and, for a composite optimizer, its own block norm.</param>
/// <param name="OwnNorm">The name of the optimizer's own norm among <paramref name="Results"/>.</param>
/// <param name="ThetaTildeL2">‖θ̃‖₂ of the rescaled direction (q_min(θ̃) = 1), the scale ε is compared with.</param>
/// <param name="SamplesUsed">How many samples got a multiplier (all, or those within the margin slack).</param>
/// <param name="Seconds">Wall time of building J and solving the certificates.</param>
public sealed record KktSummary(IReadOnlyList<KktResult> Results, string OwnNorm, double ThetaTildeL2, int SamplesUsed, double Seconds);

/// <summary>
/// Checks the paper's predictions (docs/mathematics.md §6) against an observed run: pure functions of the
/// <see cref="ObservedRun"/>, the flow and a CPU evaluator of the same model.
/// </summary>
public static class PredictionChecks
{
    /// <summary>The family of a flow: its definition's (<see cref="OptimizerDefinition.Family"/>); a composite takes the
    /// strongest of its parts' (Adam over plain gradient flow over momentum SD over normalized SD).</summary>
    public static OptimizerFamily Family(OptimizerFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        return flow.Parts.Max(p => p.Definition.Family);
    }

    /// <summary>
    /// The rate of approach over the last decade of t: the least-squares slope of log |v − target| against
    /// log t over the saved points with t ≥ t_last/10 (t &gt; 0, finite v, v ≠ target). Negative when v
    /// approaches the target like a power of t; NaN with fewer than two usable points.
    /// </summary>
    public static double DecadeTrend(IReadOnlyList<double> times, IReadOnlyList<double> values, double target)
    {
        ArgumentNullException.ThrowIfNull(times);
        ArgumentNullException.ThrowIfNull(values);
        if (times.Count == 0)
        {
            return double.NaN;
        }

        double tLast = times[^1];
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        int n = 0;
        for (int i = 0; i < times.Count; i++)
        {
            double t = times[i], v = values[i];
            if (!(t > 0) || t < tLast / 10 || !double.IsFinite(v) || v == target)
            {
                continue;
            }

            double x = Math.Log(t), y = Math.Log(Math.Abs(v - target));
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
            n++;
        }

        double det = (n * sxx) - (sx * sx);
        return n < 2 || !(det > 0) ? double.NaN : ((n * sxy) - (sx * sy)) / det;
    }

    /// <summary>Verdict of a prediction "value → limit": holds within the tolerance, else not yet converged
    /// while the decade trend approaches (negative slope), else violated.</summary>
    public static Verdict Limit(double value, double limit, double tolerance, double trend) =>
        Math.Abs(value - limit) <= tolerance ? Verdict.Holds
        : trend < 0 ? Verdict.NotYetConverged
        : Verdict.Violated;

    /// <summary>Verdict of "value ≤ bound" (a limsup): holds up to the tolerance, else not yet converged while
    /// the excess shrinks over the last decade, else violated.</summary>
    public static Verdict UpperBound(double value, double bound, double tolerance, double trend) =>
        value <= bound + tolerance ? Verdict.Holds
        : trend < 0 ? Verdict.NotYetConverged
        : Verdict.Violated;

    /// <summary>Verdict of "value ≥ bound" (a liminf): holds up to the tolerance, else not yet converged while
    /// the shortfall shrinks over the last decade, else violated.</summary>
    public static Verdict LowerBound(double value, double bound, double tolerance, double trend) =>
        value >= bound - tolerance ? Verdict.Holds
        : trend < 0 ? Verdict.NotYetConverged
        : Verdict.Violated;

    /// <summary>
    /// Every prediction that applies to the flow's family and model, checked against the run. The KKT rows
    /// need <paramref name="evaluator"/> (a CPU evaluator of the same model and data).
    /// </summary>
    public static IReadOnlyList<PredictionRow> Evaluate(ObservedRun run, OptimizerFlow flow, LossEvaluator evaluator, VerifyOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(evaluator);
        options ??= new VerifyOptions();
        Trajectory trajectory = run.Trajectory;
        var rows = new List<PredictionRow>();
        if (trajectory.Count == 0)
        {
            return rows;
        }

        double[] t = trajectory.Values(o => o.Time);
        OptimizerFamily family = Family(flow);
        string own = TrajectoryFormat.Suffix(ObservedNorm.Own);

        // Each row is named by its trajectory column (the quantity's name in trajectory.csv).
        PredictionRow LimitRow(string column, Func<Observation, double> value, string reference, double limit, double tolerance)
        {
            double[] v = trajectory.Values(value);
            double trend = DecadeTrend(t, v, limit);
            double last = v[^1];
            return new PredictionRow(column, reference, $"→ {limit}", last, trend, Limit(last, limit, tolerance, trend), tolerance);
        }

        switch (family)
        {
            case OptimizerFamily.SteepestDescent:
                rows.Add(LimitRow(TrajectoryColumns.NormOverEtaIntegral(own), o => o.Own.NormOverEtaIntegral, "Lemma C.10", 1, options.LimitTolerance));
                rows.Add(LimitRow(TrajectoryColumns.LemmaC10Ratio(own), o => o.Own.LemmaC10Ratio, "Lemma C.10", 1, options.LimitTolerance));
                rows.Add(SoftMarginMonotone(trajectory, evaluator));
                break;

            case OptimizerFamily.MomentumSteepestDescent:
                MomentumRows(trajectory, t, rows, options, secondMoment: false);
                rows.Add(LiminfRow(t, trajectory.Values(o => o.RSpeed), TrajectoryColumns.RSpeed, options.LimitTolerance));
                break;

            case OptimizerFamily.Adam:
            {
                // Lemma B.10: |θ_t[j] − θ_0[j]| ≤ ∫η + O((∫η)^{1/2}), so the ratio's excess over 1 vanishes.
                double[] drift = trajectory.Values(o => o.DriftLInfOverEtaIntegral);
                double trend = DecadeTrend(t, drift, 1);
                rows.Add(new PredictionRow(TrajectoryColumns.DriftLinfOverEtaIntegral, "Lemma B.10", "≤ 1 (limsup)", drift[^1], trend, UpperBound(drift[^1], 1, options.BoundTolerance, trend), options.BoundTolerance));
                MomentumRows(trajectory, t, rows, options, secondMoment: true);
                break;
            }
        }

        rows.Add(LimitRow(TrajectoryColumns.Alignment(own), o => o.Own.Alignment, "Theorem C.8", 1, options.AlignmentTolerance));

        // Fig. 1b: the direction settles — cosine to the last iterate over the second half of the run.
        double cosine = run.Summary.SecondHalfMinCosine;
        rows.Add(new PredictionRow("cosineToLast (min, t ≥ t_last/2)", "Fig. 1b", $"≥ {options.CosineThreshold}", cosine, double.NaN, cosine >= options.CosineThreshold ? Verdict.Holds : Verdict.NotYetConverged, 0));

        if (options.Kkt && run.Result.FinalState.Length > 0 && evaluator.Network.HomogeneityDegree > 0)
        {
            KktSummary? kkt = FinalKkt(flow.Theta(run.Result.FinalState), flow, evaluator, options.KktMarginSlack);
            if (kkt is not null)
            {
                rows.Add(KktRow(kkt, options.KktTolerance));
            }
        }

        return rows;
    }

    /// <summary>
    /// The KKT certificates (Definition C.4) of the direction of <paramref name="theta"/>: θ̃ = θ q_min^{−1/L}
    /// (so q_min(θ̃) = 1), J with rows y_i ∇f(x_i; θ̃) from <see cref="LossEvaluator.SampleOutputGradient"/>,
    /// in ℓ2, ℓ∞, msp and the optimizer's own norm. Null when q_min(θ) ≤ 0 (the data are not yet separated).
    /// </summary>
    /// <param name="theta">The final θ.</param>
    /// <param name="flow">The flow (its layout and own norm).</param>
    /// <param name="evaluator">A CPU evaluator of the same model and data.</param>
    /// <param name="marginSlack">Only samples with q_i(θ̃) ≤ 1 + slack get a multiplier (∞: all).</param>
    public static KktSummary? FinalKkt(ReadOnlySpan<double> theta, OptimizerFlow flow, LossEvaluator evaluator, double marginSlack = double.PositiveInfinity)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(evaluator);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ParameterLayout layout = flow.Parameters;
        evaluator.EvaluateLoss(theta);
        double qMin = evaluator.MinMargin;
        if (!(qMin > 0))
        {
            return null;
        }

        var thetaTilde = new double[theta.Length];
        KktCertificate.RescaleToUnitMargin(theta, qMin, evaluator.Network.HomogeneityDegree, thetaTilde);
        evaluator.EvaluateLoss(thetaTilde);
        double[] allMargins = evaluator.Margins.ToArray();
        int[] used = Enumerable.Range(0, allMargins.Length).Where(i => allMargins[i] <= 1 + marginSlack).ToArray();
        Matrix<double> jacobian = Matrix<double>.Build.Dense(used.Length, layout.Length);
        var gradient = new double[layout.Length];
        double[] margins = new double[used.Length];
        for (int r = 0; r < used.Length; r++)
        {
            int i = used[r];
            evaluator.SampleOutputGradient(thetaTilde, i, gradient);
            double y = evaluator.Data.Label(i);
            for (int j = 0; j < gradient.Length; j++)
            {
                jacobian[r, j] = y * gradient[j];
            }

            margins[r] = allMargins[i];
        }

        var results = new List<KktResult>(KktCertificate.ComputeAll(thetaTilde, layout, jacobian, margins));
        if (layout.Blocks.Count == 1)
        {
            results.RemoveAll(k => k.Norm == "msp"); // a single block: msp is ℓ2 of the row, nothing new
        }

        Norm own = ObservedFlow.OwnNorm(flow);
        string ownName;
        if (own is BlockMaxNorm block && flow.Parts.Count > 1)
        {
            KktResult composite;
            try
            {
                composite = KktCertificate.Compute(block, thetaTilde, jacobian, margins);
            }
            catch (NotSupportedException)
            {
                // A composite whose own norm is not a max over the layout's blocks (an ℓ2 part over several
                // matrices): no certificate for it; the run's other rows still stand.
                return null;
            }

            results.Add(composite);
            ownName = composite.Norm;
        }
        else
        {
            ownName = flow.Parts[0].Definition.OwnNorm switch
            {
                OwnNormKind.LInf => "linf",
                OwnNormKind.Msp when layout.Blocks.Count > 1 => "msp",
                _ => "l2",
            };
        }

        return new KktSummary(results, ownName, L2Norm.Euclidean(thetaTilde), used.Length, clock.Elapsed.TotalSeconds);
    }

    private static PredictionRow KktRow(KktSummary kkt, double tolerance)
    {
        var extra = new Dictionary<string, double>();
        foreach (KktResult r in kkt.Results)
        {
            extra[$"epsilon_{r.Norm}"] = r.Epsilon / kkt.ThetaTildeL2;
            extra[$"delta_{r.Norm}"] = r.Delta;
        }

        extra["samplesUsed"] = kkt.SamplesUsed;
        extra["seconds"] = kkt.Seconds;
        KktResult own = kkt.Results.First(r => r.Norm == kkt.OwnNorm);
        double relative = own.Epsilon / kkt.ThetaTildeL2;
        bool smallest = kkt.Results.All(r => own.Epsilon <= r.Epsilon * (1 + 1e-9) + 1e-12);

        // Definition C.4 / Theorems 3.3–3.7: the limit direction is a KKT point of Problem (11) in the
        // optimizer's own norm, so its ε should be the smallest of the norms compared. A certificate of the
        // final point alone has no trend, so a finite run can only say "not yet" when it is not there: at
        // log L = −1000 NGD on m = 256 still has ε∞ < ε₂, a finite-time effect rather than a counterexample.
        Verdict verdict = relative <= tolerance && smallest ? Verdict.Holds : Verdict.NotYetConverged;
        return new PredictionRow($"KKT ε/‖θ̃‖₂ ({kkt.OwnNorm}, smallest of {string.Join(", ", kkt.Results.Select(r => r.Norm))})", "Def C.4", $"≤ {tolerance}, smallest", relative, double.NaN, verdict, tolerance, extra);
    }

    private static void MomentumRows(Trajectory trajectory, double[] t, List<PredictionRow> rows, VerifyOptions options, bool secondMoment)
    {
        // Lemma C.19: ‖m‖⋆/‖g‖⋆ → 1 and ‖m/‖m‖⋆ − g/‖g‖⋆‖⋆ → 0 (and the same for v against g²), per part.
        // Each quantity: its column name, its value in a part (null where the part has no such value), whether it is a ratio (→ 1) or a gap (→ 0).
        (Func<string?, string> Column, Func<PartObservation, double?> Value, bool Ratio)[] quantities = secondMoment
            ? [(TrajectoryColumns.MomentumRatio, p => p.MomentumRatio, true), (TrajectoryColumns.MomentumDirectionGap, p => p.MomentumDirectionGap, false),
               (TrajectoryColumns.SecondMomentRatio, p => p.SecondMoment?.Ratio, true), (TrajectoryColumns.SecondMomentDirectionGap, p => p.SecondMoment?.DirectionGap, false)]
            : [(TrajectoryColumns.MomentumRatio, p => p.MomentumRatio, true), (TrajectoryColumns.MomentumDirectionGap, p => p.MomentumDirectionGap, false)];
        IReadOnlyList<PartObservation> shape = trajectory[0].Parts;
        foreach ((Func<string?, string> column, Func<PartObservation, double?> value, bool ratio) in quantities)
        {
            for (int k = 0; k < shape.Count; k++)
            {
                if (value(shape[k]) is null)
                {
                    continue;
                }

                int part = k;
                double limit = ratio ? 1 : 0;
                double tolerance = ratio ? options.LimitTolerance : options.GapTolerance;
                double[] v = trajectory.Values(o => value(o.Parts[part])!.Value);
                double trend = DecadeTrend(t, v, limit);
                rows.Add(new PredictionRow(column(shape[k].Part), "Lemma C.19", $"→ {limit}", v[^1], trend, Limit(v[^1], limit, tolerance, trend), tolerance));
            }
        }
    }

    private static PredictionRow LiminfRow(double[] t, double[] r, string column, double tolerance)
    {
        // Definition 5.1: liminf r(t) ≥ 1 — the smallest r over the last decade stands for the liminf.
        double tLast = t[^1];
        double min = Enumerable.Range(0, r.Length).Where(i => t[i] >= tLast / 10 && double.IsFinite(r[i])).Select(i => r[i]).DefaultIfEmpty(double.NaN).Min();
        double trend = DecadeTrend(t, r, 1);
        return new PredictionRow($"{column} (min over last decade)", "Def 5.1", "liminf ≥ 1", min, trend, LowerBound(min, 1, tolerance, trend), tolerance);
    }

    private static PredictionRow SoftMarginMonotone(Trajectory trajectory, LossEvaluator evaluator)
    {
        // Theorem 3.1: for NSD, γ̃ is non-decreasing once L < ℓ(0). Measured: the largest relative drop of γ̃
        // below its running maximum after that time (0 when monotone); round-off of 1e-9 relative is allowed.
        const double tolerance = 1e-9;
        double logLossAtZero = evaluator.Loss.LogValue(0);
        double[] logLoss = trajectory.Values(o => o.LogLoss);
        double[] soft = trajectory.Values(o => o.Own.SoftMargin);
        double runningMax = double.NegativeInfinity, worst = 0;
        for (int i = 0; i < soft.Length; i++)
        {
            if (!(logLoss[i] < logLossAtZero) || !double.IsFinite(soft[i]))
            {
                continue;
            }

            if (runningMax > 0)
            {
                worst = Math.Max(worst, (runningMax - soft[i]) / runningMax);
            }

            runningMax = Math.Max(runningMax, soft[i]);
        }

        return new PredictionRow("softMargin_own largest relative drop after L < ℓ(0)", "Theorem 3.1", "0 (non-decreasing)", worst, double.NaN, worst <= tolerance ? Verdict.Holds : Verdict.Violated, tolerance);
    }
}
