using System.Numerics.Tensors;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Running;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Discrete;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Kernels;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Solvers;

namespace ImplicitBias.Flow.Experiments.Comparison;

/// <summary>
/// <c>ibflow compare</c>: the discrete optimizer with time step h as a numerical scheme for its flow (docs/mathematics.md §4). With
/// β = e^{−c h} and steps h η(t_{n−1}), θ_n is a first-order approximation of θ(t_n), t_n = n h: the error at a fixed
/// time T falls like h, so the slope of log error against log h is about 1.
/// </summary>
/// <remarks>
/// <para>
/// The experiment's first optimizer and first seed are used. The flow is integrated once, at a tight tolerance
/// (<see cref="ComparisonOptions.RelTol"/>), and saved through its dense output exactly at the union of all t_n grids.
/// The discrete runs are advanced in lockstep with those saves, so at each t_n the flow state and every θ_n that
/// belongs there are compared and dropped: memory stays a few copies of θ whatever T/h.
/// </para>
/// <para>
/// The flow runs to T whatever the experiment's loss target (the comparison is at fixed times). The flow of
/// SignGD/Signum uses the smoothed sign unless Optimizer:SignMode = exact, while the discrete optimizers take the exact
/// sign; their distance then does not vanish with h.
/// </para>
/// </remarks>
public static class DiscretizationComparison
{
    /// <summary>How far apart the observed orders of an asymptotic range may be: each within ± this of their midpoint.</summary>
    public const double OrderAgreement = 0.25;

    /// <summary>The fewest consecutive step sizes (so two observed orders) that make an asymptotic range.</summary>
    public const int MinimumRangeSteps = 3;

    /// <summary>
    /// Runs the comparison, then, while the observed orders of the finest step sizes do not agree (no asymptotic range,
    /// see <see cref="AsymptoticStart"/>), halves the finest h and compares again, up to
    /// <see cref="ComparisonOptions.MaxRefinements"/> times and <see cref="ComparisonOptions.MaxRefinedSteps"/> steps.
    /// The order is fitted over the asymptotic range only. Mistakes in the experiment throw <see cref="ExperimentException"/>.
    /// </summary>
    /// <param name="settings">The experiment.</param>
    /// <param name="options">Time steps, T, polar method and refinement budget.</param>
    /// <param name="progress">Receives the flow's progress (may be null).</param>
    /// <exception cref="ArgumentException">The steps cannot be compared up to T (see <see cref="ComparisonOptions.CheckSteps"/>).</exception>
    /// <exception cref="ExperimentException">The optimizer has no discrete form (<see cref="OptimizerDefinition.HasDiscreteForm"/>).</exception>
    public static ComparisonResult Run(ExperimentSettings settings, ComparisonOptions options, ProgressReporter? progress = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(options);
        OptimizerSettings first = settings.Optimizers[0];
        foreach (string name in first.Blocks.Count > 0 ? first.Blocks.Select(b => b.Optimizer.Name) : [first.Name])
        {
            if (!OptimizerRegistry.Get(name).HasDiscreteForm)
            {
                throw new ExperimentException(settings.SourceFile, settings.Optimizers.Count > 1 ? "Optimizers:0:Name" : "Optimizer:Name", name, $"compare needs a discrete form, which '{name}' has not; one of: {string.Join(", ", OptimizerRegistry.All.Where(d => d.HasDiscreteForm).Select(d => d.Name))}");
            }
        }

        double time = options.ResolveTime(settings);
        ComparisonResult result = RunOnce(settings, options, progress);
        var refined = new List<double>();
        string? limit = null;
        while (AsymptoticStart(result.Rows) is null)
        {
            double h = result.Rows[^1].H / 2;
            if (refined.Count >= options.MaxRefinements)
            {
                limit = $"{options.MaxRefinements} halving(s) of h allowed";
                break;
            }

            if (ComparisonOptions.StepCount(h, time) is not long n || n > options.MaxRefinedSteps)
            {
                limit = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"h = {h:G6} would take more than {options.MaxRefinedSteps} steps");
                break;
            }

            // Only the new h is run; the flow is integrated again, saved on the finer grid that contains the old ones.
            ComparisonResult finer = RunOnce(settings, options with { Steps = [h] }, progress);
            refined.Add(h);
            result = finer with { Rows = [.. result.Rows, .. finer.Rows], Traces = [.. result.Traces, .. finer.Traces] };
        }

        int? start = AsymptoticStart(result.Rows);
        double order = start is int k ? FitOrder(result.Rows.Skip(k).ToArray()) : double.NaN;
        return result with { Order = order, AsymptoticStart = start, RefinedSteps = refined, RefinementLimit = start is null ? limit : null };
    }

    /// <summary>
    /// The observed order between consecutive rows (coarsest first): log(e_{i−1}/e_i) / log(h_{i−1}/h_i); NaN for the
    /// first row and where an error is not positive and finite.
    /// </summary>
    public static double[] ObservedOrders(IReadOnlyList<ComparisonRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var orders = new double[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            ComparisonRow? previous = i == 0 ? null : rows[i - 1];
            bool usable = previous is not null && Usable(previous.Error) && Usable(rows[i].Error);
            orders[i] = usable ? Math.Log(previous!.Error / rows[i].Error) / Math.Log(previous.H / rows[i].H) : double.NaN;
        }

        return orders;
    }

    /// <summary>
    /// The asymptotic range: the longest run of consecutive step sizes ending at the finest whose observed orders all lie
    /// within ±<see cref="OrderAgreement"/> of their midpoint, when it spans at least <see cref="MinimumRangeSteps"/> step
    /// sizes. Returns the index of its coarsest row, or null when the finest orders disagree (h is not yet small enough).
    /// </summary>
    /// <remarks>
    /// Anchored at the finest h because the order of a scheme is a statement about h → 0: at coarse h the error can
    /// stall or even grow (a large first step h η0 that the flow takes gradually) and a fit over all h misreads it.
    /// </remarks>
    public static int? AsymptoticStart(IReadOnlyList<ComparisonRow> rows)
    {
        double[] orders = ObservedOrders(rows);
        int start = rows.Count - 1;
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        for (int i = rows.Count - 1; i >= 1; i--)
        {
            double p = orders[i];
            if (!double.IsFinite(p) || Math.Max(hi, p) - Math.Min(lo, p) > 2 * OrderAgreement)
            {
                break;
            }

            lo = Math.Min(lo, p);
            hi = Math.Max(hi, p);
            start = i - 1;
        }

        return rows.Count - start >= MinimumRangeSteps ? start : null;
    }

    private static bool Usable(double error) => error > 0 && double.IsFinite(error);

    private static ComparisonResult RunOnce(ExperimentSettings settings, ComparisonOptions options, ProgressReporter? progress)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(options);
        double time = options.ResolveTime(settings);
        if (ComparisonOptions.CheckSteps(options.Steps, time) is string problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        OptimizerSettings optimizer = settings.Optimizers[0];
        using FlowSession session = FlowSession.Open(settings, null, optimizer, settings.Seeds[0], new FlowTolerances(options.RelTol, options.AbsTol, settings.Solver.BlockScale), serial: true);
        FullyConnectedNetwork network = session.Model.Network;
        double[] theta0 = session.Theta0;
        IReadOnlyList<OptimizerPart> parts = session.Parts;
        IGradientOracle oracle = session.Backend.Oracle;
        DeviceFlowSolver? device = session.Engine;

        // q_min needs the per-sample margins, which the oracle does not expose; a serial CPU evaluator gives them.
        LossEvaluator marginEvaluator = session.NewEvaluator();
        double homogeneity = network.HomogeneityDegree;

        OptimizerFlow flow = session.Flow;
        string method = settings.Solver.Method is "auto" or "discrete" ? ReferenceMethod(flow) : settings.Solver.Method;

        double[] hs = options.Steps.OrderDescending().ToArray();
        long[] counts = hs.Select(h => ComparisonOptions.StepCount(h, time)!.Value).ToArray();
        var discrete = hs.Select(h => new DiscreteOptimizer(oracle, parts, optimizer.Power, optimizer.TimeOffset, theta0, h, options.Polar)).ToArray();
        int finest = hs.Length - 1;

        // Newton–Schulz vs exact: a second run at the finest h with the other polar method.
        bool polar = parts.Any(p => p.Geometry == UpdateGeometry.Polar);
        PolarMethod otherMethod = options.Polar == PolarMethod.Exact ? PolarMethod.NewtonSchulz : PolarMethod.Exact;
        DiscreteOptimizer? companion = polar ? new DiscreteOptimizer(oracle, parts, optimizer.Power, optimizer.TimeOffset, theta0, hs[finest], otherMethod) : null;
        PolarDifference? firstMatrices = polar ? FirstStepSingularValues(parts, network, discrete[finest].RelativeGradient) : null;
        double oneUpdate = double.NaN;

        // The union of all grids t_n = n h; times that coincide up to round-off (3·0.1 and 6·0.05) are one save.
        var grid = new List<(double T, int H, long N)>();
        for (int i = 0; i < hs.Length; i++)
        {
            for (long n = 0; n <= counts[i]; n++)
            {
                grid.Add((n * hs[i], i, n));
            }
        }

        grid.Sort((a, b) => a.T.CompareTo(b.T));
        var saveTimes = new List<double>();
        var members = new List<List<(int H, long N)>>();
        double merge = 1e-12 * time;
        foreach ((double t, int i, long n) in grid)
        {
            if (saveTimes.Count == 0 || t - saveTimes[^1] > merge)
            {
                saveTimes.Add(t);
                members.Add([]);
            }

            members[^1].Add((i, n));
        }

        var traces = hs.Select(_ => new TraceBuilder()).ToArray();
        var diverged = new bool[hs.Length];
        var flowTime = new List<double>();
        var flowLogLoss = new List<double>();
        var flowMargin = new List<double>();
        double[]? companionTheta = null, finestTheta = null, flowThetaAtT = null;
        int saveIndex = 0;

        void OnSave(double t, double[] y)
        {
            ReadOnlySpan<double> thetaFlow = flow.Theta(y);
            (double logLossFlow, double marginFlow) = LossAndMargin(marginEvaluator, thetaFlow, homogeneity);
            flowTime.Add(t);
            flowLogLoss.Add(logLossFlow);
            flowMargin.Add(marginFlow);
            double flowNorm = TensorPrimitives.Norm(thetaFlow);
            foreach ((int i, long n) in members[saveIndex])
            {
                // Each discrete run is advanced to t_n by the engine's loop (no target: the comparison is at fixed times).
                // A run whose next state is not finite stays at its last finite state; from then on it is compared as NaN.
                DiscreteOptimizer run = discrete[i];
                diverged[i] |= run.RunUntil(n, double.NegativeInfinity) == DiscreteStopReason.NonFinite;
                if (i == finest && companion is not null)
                {
                    companion.RunUntil(n, double.NegativeInfinity);
                    if (n == 1)
                    {
                        // The first step's source is ∝ g(θ_0) for both runs: how far one NS update is from U Vᵀ.
                        oneUpdate = run.LastPolarDifference();
                    }
                }

                (double logLoss, double margin) = diverged[i] ? (double.NaN, double.NaN) : LossAndMargin(marginEvaluator, run.Theta, homogeneity);
                double distance = diverged[i] ? double.NaN : TensorPrimitives.Distance(run.Theta, thetaFlow) / flowNorm;
                double cosine = diverged[i] ? double.NaN : TensorPrimitives.CosineSimilarity(run.Theta, thetaFlow);
                traces[i].Add(n * hs[i], distance, cosine, logLoss, logLossFlow, margin, marginFlow);
                if (n == counts[i] && i == finest)
                {
                    finestTheta = run.Theta.ToArray();
                    companionTheta = companion?.Theta.ToArray();
                    flowThetaAtT = thetaFlow.ToArray();
                }
            }

            saveIndex++;
        }

        var solve = new FlowSolveOptions
        {
            Method = method,
            MaxTime = saveTimes[^1],
            MaxSteps = settings.Stop.MaxSteps,

            // Compared at fixed times, so the flow must not stop at the experiment's loss target.
            TargetLogLoss = double.MinValue,
            SaveAt = SaveAt.Times([.. saveTimes]),
            OnSave = OnSave,
            KeepSavedStates = false,
            OnStep = progress is null ? null : s => progress.Report(new ProgressSample(s.Time, device?.LastLogLoss ?? flow.LastLogLoss, s.StepSize, s.AcceptedSteps, s.RejectedSteps, s.RhsEvaluations)),

            // On the ILGPU backends the flow's state stays in device memory (host copies at the save times).
            Engine = device,
        };
        OdeResult result = FlowSolver.Solve(flow, theta0, solve);
        progress?.Finish(new ProgressSample(result.FinalTime, flowLogLoss.Count > 0 ? flowLogLoss[^1] : double.NaN, 0, result.AcceptedSteps, result.RejectedSteps, result.RhsEvaluations), result.Status.ToString());
        if (saveIndex < saveTimes.Count)
        {
            throw new ExperimentException(
                settings.SourceFile,
                "Stop:MaxTime",
                time.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                $"the flow (rtol {options.RelTol:0.##e+0}) stopped at t = {result.FinalTime:G6} before the comparison time ({result.Status}: {result.Message}); compare up to a smaller T (--time T or --Stop:MaxTime=…) or allow more steps (--Stop:MaxSteps=…)");
        }

        var rows = new ComparisonRow[hs.Length];
        var finished = new ComparisonTrace[hs.Length];
        for (int i = 0; i < hs.Length; i++)
        {
            finished[i] = traces[i].Build(hs[i], counts[i]);
            ComparisonTrace tr = finished[i];
            rows[i] = new ComparisonRow(hs[i], counts[i], tr.RelativeDistance[^1], tr.Cosine[^1], tr.LogLossDiscrete[^1], tr.LogLossFlow[^1]);
        }

        NewtonSchulzReport? newtonSchulz = null;
        if (companion is not null)
        {
            double[] ns = options.Polar == PolarMethod.NewtonSchulz ? finestTheta! : companionTheta!;
            double[] exact = options.Polar == PolarMethod.NewtonSchulz ? companionTheta! : finestTheta!;
            double flowNorm = TensorPrimitives.Norm(flowThetaAtT);
            newtonSchulz = new NewtonSchulzReport(
                oneUpdate,
                firstMatrices!.MinSingularValue,
                firstMatrices.MaxSingularValue,
                hs[finest],
                TensorPrimitives.Distance(ns, exact) / TensorPrimitives.Norm(exact),
                TensorPrimitives.Distance(ns, flowThetaAtT) / flowNorm,
                TensorPrimitives.Distance(exact, flowThetaAtT) / flowNorm);
        }

        var reference = new FlowReference(method, options.RelTol, result.AcceptedSteps, result.RejectedSteps, result.RhsEvaluations, [.. flowTime], [.. flowLogLoss], [.. flowMargin]);
        return new ComparisonResult(settings.Name, optimizer.Label, session.Seed, time, options.Polar, rows, finished, FitOrder(rows), reference, newtonSchulz);
    }

    /// <summary>
    /// The least-squares slope of log error against log h over the rows with a finite positive error: the observed
    /// order of convergence (about 1 for the first-order discrete scheme). NaN with fewer than two such rows.
    /// </summary>
    public static double FitOrder(IReadOnlyList<ComparisonRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var points = rows.Where(r => r.Error > 0 && double.IsFinite(r.Error)).Select(r => (X: Math.Log(r.H), Y: Math.Log(r.Error))).ToArray();
        if (points.Length < 2)
        {
            return double.NaN;
        }

        double meanX = points.Average(p => p.X), meanY = points.Average(p => p.Y);
        double sxx = points.Sum(p => (p.X - meanX) * (p.X - meanX));
        return sxx == 0 ? double.NaN : points.Sum(p => (p.X - meanX) * (p.Y - meanY)) / sxx;
    }

    /// <summary>
    /// The stepper of the reference flow when the experiment leaves it to us: at rtol 1e-10 the steps are set by
    /// accuracy, far below the explicit stability bound ≈ 3.3/c of the momentum rates (c ≈ 0.1 and 0.001 for the
    /// paper's β), so the eighth-order DOP853 is the cheapest accurate choice; only stiff rates (c &gt; 10) keep the
    /// exponential default.
    /// </summary>
    private static string ReferenceMethod(OptimizerFlow flow) =>
        flow.Layout.Blocks.Max(b => b.DecayRate) > 10 ? FlowSolver.DefaultMethod(flow).Name : "dop853";

    private static (double LogLoss, double Margin) LossAndMargin(LossEvaluator evaluator, ReadOnlySpan<double> theta, double homogeneity)
    {
        double logLoss = evaluator.EvaluateLoss(theta);
        double norm = TensorPrimitives.Norm(theta);
        return (logLoss, evaluator.MinMargin / Math.Pow(norm, homogeneity));
    }

    /// <summary>NS against exact on the first step's matrices (source ∝ g(θ_0)): the range of singular values NS gives.</summary>
    private static PolarDifference FirstStepSingularValues(IReadOnlyList<OptimizerPart> parts, FullyConnectedNetwork network, ReadOnlySpan<double> gradient)
    {
        double min = double.PositiveInfinity, max = 0, squaredDifference = 0, count = 0;
        foreach (OptimizerPart p in parts.Where(p => p.Geometry == UpdateGeometry.Polar))
        {
            for (int b = p.FirstBlock; b < p.FirstBlock + p.BlockCount; b++)
            {
                Core.Parameters.ParameterBlock block = network.Layout.Blocks[b];
                PolarDifference d = PolarComparison.Compare(network.Layout.Slice(gradient, b), block.Rows, block.Cols);
                min = Math.Min(min, d.MinSingularValue);
                max = Math.Max(max, d.MaxSingularValue);
                squaredDifference += d.RelativeDifference * d.RelativeDifference;
                count++;
            }
        }

        return new PolarDifference(Math.Sqrt(squaredDifference / Math.Max(count, 1)), min, max);
    }

    private sealed class TraceBuilder
    {
        private readonly List<double> _t = [], _distance = [], _cosine = [], _logLoss = [], _logLossFlow = [], _margin = [], _marginFlow = [];

        public void Add(double t, double distance, double cosine, double logLoss, double logLossFlow, double margin, double marginFlow)
        {
            _t.Add(t);
            _distance.Add(distance);
            _cosine.Add(cosine);
            _logLoss.Add(logLoss);
            _logLossFlow.Add(logLossFlow);
            _margin.Add(margin);
            _marginFlow.Add(marginFlow);
        }

        public ComparisonTrace Build(double h, long steps) =>
            new(h, steps, [.. _t], [.. _distance], [.. _cosine], [.. _logLoss], [.. _logLossFlow], [.. _margin], [.. _marginFlow]);
    }
}
