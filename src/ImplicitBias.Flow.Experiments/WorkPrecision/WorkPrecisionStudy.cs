using System.Diagnostics;
using System.Numerics.Tensors;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Diagnostics;
using ImplicitBias.Flow.Experiments.Running;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Solvers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Experiments.WorkPrecision;

/// <summary>What <c>ibflow work-precision</c> runs.</summary>
public sealed record WorkPrecisionOptions
{
    /// <summary>The default steppers compared.</summary>
    public static readonly IReadOnlyList<string> DefaultMethods = ["etdrk4", "dopri5", "tsit5"];

    /// <summary>The default relative tolerances.</summary>
    public static readonly IReadOnlyList<double> DefaultRelTols = [1e-4, 1e-6, 1e-8];

    /// <summary>Steppers ("auto" allowed).</summary>
    public IReadOnlyList<string> Methods { get; init; } = DefaultMethods;

    /// <summary>Relative tolerances; each run's atol and block scale κ keep the experiment's ratios to rtol.</summary>
    public IReadOnlyList<double> RelTols { get; init; } = DefaultRelTols;

    /// <summary>The two reference solves: the first is the reference, the second checks it.</summary>
    public IReadOnlyList<string> ReferenceMethods { get; init; } = ["dop853", "tsit5"];

    /// <summary>The reference tolerance.</summary>
    public double ReferenceRelTol { get; init; } = 1e-10;

    /// <summary>
    /// The gradient's precisions (Solver:Precision values) of the solves, each method and tolerance at each; null: the
    /// experiment's own. The reference and its check are always solved in float64.
    /// </summary>
    public IReadOnlyList<string>? Precisions { get; init; }

    /// <summary>Saves per decade of t (θ/‖θ‖ is compared at these times).</summary>
    public int SavesPerDecade { get; init; } = 5;

    /// <summary>The problem with these options, or null: unknown methods, tolerances outside (1e-14, 1).</summary>
    public string? Problem()
    {
        string[] known = ["auto", .. MethodCatalog.All.Select(m => m.Name), .. MethodCatalog.Pairs.Select(m => m.Name)];
        foreach (string m in Methods.Concat(ReferenceMethods))
        {
            if (!known.Contains(m))
            {
                return $"unknown method '{m}'; allowed: {string.Join(", ", known)}";
            }

            if (m != "auto" && !MethodCatalog.Find(m)!.IsAdaptive)
            {
                return $"method '{m}' has a fixed step and no tolerance; allowed: adaptive methods ({string.Join(", ", MethodCatalog.All.Where(x => x.IsAdaptive).Select(x => x.Name))}) or auto";
            }
        }

        foreach (double r in RelTols.Append(ReferenceRelTol))
        {
            if (!(r >= 1e-14 && r < 1))
            {
                return $"relative tolerance {r} is out of range; allowed: 1e-14 ≤ rtol < 1";
            }
        }

        if (Precisions?.FirstOrDefault(p => !Vocabulary.Precisions.Contains(p)) is { } precision)
        {
            return $"unknown precision '{precision}'; allowed: {string.Join(", ", Vocabulary.Precisions)}";
        }

        return Methods.Count == 0 || RelTols.Count == 0 || Precisions is { Count: 0 } ? "give at least one method and one tolerance" : null;
    }
}

/// <summary>What a researcher reads from one solve.</summary>
/// <param name="Method">The stepper.</param>
/// <param name="RelTol">Its relative tolerance.</param>
/// <param name="Status">How the solve ended.</param>
/// <param name="FinalTime">The time it ended (the target time when reached).</param>
/// <param name="TargetReached">Whether log L reached Stop:TargetLoss.</param>
/// <param name="Evaluations">Gradient evaluations of the solver.</param>
/// <param name="Accepted">Accepted steps.</param>
/// <param name="Rejected">Rejected steps.</param>
/// <param name="WallSeconds">Wall time of the solve with its observations.</param>
/// <param name="MarginLinf">Final ℓ∞ hard margin q_min/‖θ‖∞^L.</param>
/// <param name="MarginL2">Final ℓ2 hard margin.</param>
/// <param name="Alignment">Final alignment −⟨θ, ∇log L⟩/(‖θ‖ ‖∇log L‖⋆) in the optimizer's norm.</param>
/// <param name="SaveTimes">The save times (without the final one).</param>
/// <param name="Directions">θ/‖θ‖₂ at the save times.</param>
public sealed record SolveOutcome(
    string Method,
    double RelTol,
    string Status,
    double FinalTime,
    bool TargetReached,
    long Evaluations,
    long Accepted,
    long Rejected,
    double WallSeconds,
    double MarginLinf,
    double MarginL2,
    double Alignment,
    IReadOnlyList<double> SaveTimes,
    IReadOnlyList<double[]> Directions)
{
    /// <summary>
    /// Windows of accepted steps in which the solve left the flow (the integrated log L fell much further than
    /// log L(θ); see the run summary's logLossDrift): a solve with any is not to be trusted, a reference least of all.
    /// </summary>
    public long OffFlowWindows { get; init; }
}

/// <summary>The errors of a solve against the reference.</summary>
/// <param name="MarginLinf">|Δγ∞|/|γ∞| of the final ℓ∞ margin.</param>
/// <param name="MarginL2">|Δγ₂|/|γ₂| of the final ℓ2 margin.</param>
/// <param name="Alignment">|Δ alignment| at the end.</param>
/// <param name="Direction">max over the common save times of ‖θ/‖θ‖ − θ_ref/‖θ_ref‖‖₂.</param>
/// <param name="TargetTime">|Δt|/t of the time the target loss is reached (NaN when either run did not reach it).</param>
public sealed record SolveErrors(double MarginLinf, double MarginL2, double Alignment, double Direction, double TargetTime)
{
    /// <summary>The largest of the finite errors (the value plotted).</summary>
    public double Max => new[] { MarginLinf, MarginL2, Alignment, Direction, TargetTime }.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Max();
}

/// <summary>One row of the study.</summary>
/// <param name="Outcome">The solve.</param>
/// <param name="Errors">Its errors against the reference.</param>
public sealed record WorkPrecisionRow(SolveOutcome Outcome, SolveErrors Errors);

/// <summary>The study.</summary>
/// <param name="Name">The experiment's name.</param>
/// <param name="Optimizer">The optimizer's label.</param>
/// <param name="Reference">The reference solve.</param>
/// <param name="Check">The second reference solve.</param>
/// <param name="ReferenceAgreement">The check's errors against the reference: how far the reference itself can be trusted.</param>
/// <param name="Rows">One per method and tolerance.</param>
public sealed record WorkPrecisionResult(string Name, string Optimizer, SolveOutcome Reference, SolveOutcome Check, SolveErrors ReferenceAgreement, IReadOnlyList<WorkPrecisionRow> Rows);

/// <summary>
/// <c>ibflow work-precision</c>: the cost of each stepper and tolerance against the error of what a researcher reads
/// (final ℓ∞ and ℓ2 margins, final alignment, the direction θ/‖θ‖ along the run, the time the target loss is reached),
/// measured against a tight reference solve that a second, different method checks. Speed is never bought with
/// wrong answers unnoticed.
/// </summary>
public static class WorkPrecisionStudy
{
    /// <summary>Runs the study; mistakes in the experiment throw <see cref="ExperimentException"/>.</summary>
    /// <param name="settings">The experiment (first optimizer, first seed; Stop:TargetLoss, MaxTime and MaxSteps apply to every solve).</param>
    /// <param name="options">Methods, tolerances, reference.</param>
    /// <param name="log">Receives one progress line per solve (may be null).</param>
    /// <exception cref="ArgumentException">The options are invalid (see <see cref="WorkPrecisionOptions.Problem"/>).</exception>
    public static WorkPrecisionResult Run(ExperimentSettings settings, WorkPrecisionOptions options, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Problem() is string problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        // The reference in float64 whatever Solver:Precision: the float32 gradient's error is one of those measured.
        using FlowSession setup = FlowSession.OpenFirst(WithPrecision(settings, "float64"));
        SaveAt saves = FlowSolver.LogSpacedTimes(settings.Stop.MaxTime, options.SavesPerDecade, Math.Min(1, settings.Stop.MaxTime / 10));
        SolveOutcome reference = Solve(setup, options.ReferenceMethods[0], options.ReferenceRelTol, saves, log, string.Empty);
        SolveOutcome check = Solve(setup, options.ReferenceMethods.Count > 1 ? options.ReferenceMethods[1] : options.ReferenceMethods[0], options.ReferenceRelTol, saves, log, string.Empty);
        var rows = new List<WorkPrecisionRow>();
        foreach (string precision in options.Precisions ?? [settings.Solver.Precision])
        {
            // float32 solves are labelled "method (float32)"; float64 ones keep the method's name.
            using FlowSession? single = precision == "float64" ? null : FlowSession.OpenFirst(WithPrecision(settings, precision));
            foreach (string method in options.Methods)
            {
                foreach (double rtol in options.RelTols)
                {
                    SolveOutcome outcome = Solve(single ?? setup, method, rtol, saves, log, single is null ? string.Empty : $" ({precision})");
                    rows.Add(new WorkPrecisionRow(outcome, Errors(outcome, reference)));
                }
            }
        }

        return new WorkPrecisionResult(settings.Name, setup.Optimizer.Label, reference, check, Errors(check, reference), rows);
    }

    /// <summary>The errors of <paramref name="run"/> against <paramref name="reference"/>.</summary>
    public static SolveErrors Errors(SolveOutcome run, SolveOutcome reference)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(reference);
        double direction = 0;
        int common = Math.Min(run.Directions.Count, reference.Directions.Count);
        for (int i = 0; i < common; i++)
        {
            direction = Math.Max(direction, TensorPrimitives.Distance(run.Directions[i], reference.Directions[i]));
        }

        return new SolveErrors(
            Relative(run.MarginLinf, reference.MarginLinf),
            Relative(run.MarginL2, reference.MarginL2),
            Math.Abs(run.Alignment - reference.Alignment),
            common > 0 ? direction : double.NaN,
            run.TargetReached && reference.TargetReached ? Relative(run.FinalTime, reference.FinalTime) : double.NaN);
    }

    private static ExperimentSettings WithPrecision(ExperimentSettings settings, string precision) =>
        settings.Solver.Precision == precision ? settings : settings with { Solver = settings.Solver with { Precision = precision } };

    private static double Relative(double value, double reference) => Math.Abs(value - reference) / Math.Abs(reference);

    private static SolveOutcome Solve(FlowSession setup, string method, double rtol, SaveAt saves, TextWriter? log, string label)
    {
        ExperimentSettings settings = setup.Settings;
        // Every tolerance scales with rtol, the block scale κ of the moments included: κ sets an absolute floor
        // (κ max|y_b|) on the moments' error that rtol alone never tightens.
        double ratio = rtol / settings.Solver.RelTol;
        OptimizerFlow flow = setup.NewFlow(new FlowTolerances(rtol, settings.Solver.AbsTol * ratio, settings.Solver.BlockScale * ratio));
        string name = method == "auto" ? FlowSolver.DefaultMethod(flow).Name : method;
        var clock = Stopwatch.StartNew();
        var options = new FlowSolveOptions
        {
            Method = name,
            TargetLogLoss = settings.Stop.TargetLogLoss,
            MaxTime = settings.Stop.MaxTime,
            MaxSteps = settings.Stop.MaxSteps,
            SaveAt = saves,
        };
        ObservedRun run = ObservedFlow.Run(flow, setup.NewEvaluator(), setup.Theta0, options);
        double wall = clock.Elapsed.TotalSeconds;
        OdeResult r = run.Result;
        Trajectory trajectory = run.Trajectory;

        // Snapshots are θ at each save, then θ at the end when that is not a save time: keep the save times only.
        double[] t = trajectory.Values(o => o.Time);
        var times = new List<double>();
        var directions = new List<double[]>();
        for (int i = 0; i < t.Length && i < run.Observer.Snapshots.Count; i++)
        {
            if (i == t.Length - 1 && !saves.RequestedTimes.Contains(t[i]))
            {
                break;
            }

            double[] theta = (double[])run.Observer.Snapshots[i].Clone();
            double norm = TensorPrimitives.Norm(theta);
            TensorPrimitives.Multiply(theta, norm > 0 ? 1 / norm : 0, theta);
            times.Add(t[i]);
            directions.Add(theta);
        }

        var outcome = new SolveOutcome(
            (method == "auto" ? $"auto ({name})" : name) + label,
            rtol,
            r.Status.ToString(),
            r.FinalTime,
            r.Status == OdeStatus.EventReached,
            r.RhsEvaluations,
            r.AcceptedSteps,
            r.RejectedSteps,
            wall,
            trajectory.Last?.In(ObservedNorm.LInf)?.HardMargin ?? double.NaN,
            trajectory.Last?.In(ObservedNorm.L2)?.HardMargin ?? double.NaN,
            trajectory.Last?.Own.Alignment ?? double.NaN,
            times,
            directions)
        {
            OffFlowWindows = flow.Drift.OffFlowWindows,
        };
        string offFlow = outcome.OffFlowWindows > 0 ? $"; the steps left the flow in {outcome.OffFlowWindows} of {flow.Drift.Windows} windows" : string.Empty;
        log?.WriteLine(FormattableString.Invariant($"{settings.Name} work-precision: {outcome.Method} rtol {rtol:0.##e+0}: {outcome.Status} at t = {outcome.FinalTime:G6}, {outcome.Evaluations} evaluations ({outcome.Accepted} + {outcome.Rejected} rejected), {wall:F1} s, ℓ∞ margin {outcome.MarginLinf:G10}{offFlow}"));
        return outcome;
    }
}
