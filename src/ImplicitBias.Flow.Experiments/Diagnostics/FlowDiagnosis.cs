using System.Globalization;
using ImplicitBias.Flow.Analysis.Diagnostics;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Running;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Solvers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Experiments.Diagnostics;

/// <summary>What <c>ibflow diagnose</c> computes.</summary>
public sealed record DiagnosisOptions
{
    /// <summary>The flow times to diagnose at (positive, ascending after sorting).</summary>
    public required IReadOnlyList<double> Times { get; init; }

    /// <summary>How many Jacobian eigenvalues to report.</summary>
    public int Count { get; init; } = 6;

    /// <summary>Arnoldi steps (two gradient evaluations each).</summary>
    public int KrylovDimension { get; init; } = 30;

    /// <summary>Lanczos steps of the sharpness (two gradient evaluations each).</summary>
    public int LanczosDimension { get; init; } = 20;

    /// <summary>Coordinates named per eigenvector.</summary>
    public int TopCoordinates { get; init; } = 4;
}

/// <summary>The diagnosis at one time.</summary>
/// <param name="Time">t.</param>
/// <param name="LogLoss">σ ≈ log L.</param>
/// <param name="StepSize">The last accepted step size before t.</param>
/// <param name="Evaluations">Gradient evaluations of the solve up to t.</param>
/// <param name="Modes">Eigenvalues of the whole Jacobian ∂f/∂y, largest |λ| first.</param>
/// <param name="NonlinearModes">Eigenvalues of ∂N/∂y (without the decay −c_b that an exponential stepper integrates exactly).</param>
/// <param name="Sharpness">The preconditioned sharpness, or null for a flow without one.</param>
/// <param name="PairStability">
/// For a flow with momentum: per adaptive stepper, the largest stable step on the linearized θ–m pair with
/// s = η λmax(P⁻¹∇²L) (<see cref="StepperStability"/>); empty otherwise.
/// </param>
public sealed record DiagnosisPoint(double Time, double LogLoss, double StepSize, long Evaluations, IReadOnlyList<FlowMode> Modes, IReadOnlyList<FlowMode> NonlinearModes, SharpnessResult? Sharpness, IReadOnlyList<(string Method, double MaxStep)> PairStability)
{
    /// <summary>h|λ| beyond which an eigenvalue that is not a decay cannot be one of the flow along an accepted step.</summary>
    public const double CredibleStepTimesEigenvalue = 1e3;

    /// <summary>The decay rates c_b of the flow's blocks (their −c_b are integrated exactly by the exponential steppers).</summary>
    public IReadOnlyList<double> DecayRates { get; init; } = [];

    /// <summary>
    /// Whether <paramref name="mode"/> can be an eigenvalue of the flow's linearization here: not when h|λ| exceeds
    /// <see cref="CredibleStepTimesEigenvalue"/> (every stepper's stability bound is below 10) at a step the solver
    /// accepted, unless λ is one of the decays −c_b, which the exponential steppers integrate exactly. Such a value is
    /// an artefact of the central differences (a difference across a non-smooth point of the field, or round-off
    /// magnified by the per-coordinate scaling at coordinates near zero), and the table marks it.
    /// </summary>
    public bool IsCredible(FlowMode mode)
    {
        ArgumentNullException.ThrowIfNull(mode);
        double magnitude = mode.Eigenvalue.Magnitude;
        return !(StepSize * magnitude > CredibleStepTimesEigenvalue)
            || DecayRates.Any(c => c > 0 && Math.Abs(mode.Eigenvalue.Real + c) <= 0.01 * c && Math.Abs(mode.Eigenvalue.Imaginary) <= 0.01 * c);
    }
}

/// <summary>The result of <c>ibflow diagnose</c>.</summary>
/// <param name="Name">The experiment's name.</param>
/// <param name="Optimizer">The optimizer's label.</param>
/// <param name="Method">The stepper that produced the states and step sizes.</param>
/// <param name="RelTol">Its relative tolerance.</param>
/// <param name="Points">One per requested time the solve reached.</param>
/// <param name="Status">How the solve ended.</param>
/// <param name="FinalTime">Where it ended.</param>
public sealed record DiagnosisResult(string Name, string Optimizer, string Method, double RelTol, IReadOnlyList<DiagnosisPoint> Points, string Status, double FinalTime);

/// <summary>
/// Solves an experiment's flow (first optimizer, first seed, Solver:Method and tolerances) to each requested time
/// and there measures what limits the step: the leading eigenvalues of the Jacobian (h|λ| against the accepted h)
/// and the preconditioned sharpness against the discrete optimizer's threshold. <see cref="RunFrom"/> does the same
/// at a run's checkpoint, without solving again the part of the run already done.
/// </summary>
public static class FlowDiagnosis
{
    /// <summary>The steppers whose θ–m stability limit is reported.</summary>
    public static readonly IReadOnlyList<string> PairMethods = ["etdrk4", "etd2", "bs3", "dopri5", "tsit5", "dop853"];

    /// <summary>Runs the diagnosis; mistakes in the experiment throw <see cref="ExperimentException"/>.</summary>
    /// <param name="settings">The experiment (Solver:Method = discrete diagnoses the flow with the default stepper).</param>
    /// <param name="options">Times and Krylov sizes.</param>
    /// <param name="progress">Receives the solve's progress (may be null).</param>
    public static DiagnosisResult Run(ExperimentSettings settings, DiagnosisOptions options, ProgressReporter? progress = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(options);
        double[] times = options.Times.Distinct().Order().ToArray();
        if (times.Length == 0 || !(times[0] > 0) || !double.IsFinite(times[^1]))
        {
            throw new ArgumentException("Give at least one positive finite time.", nameof(options));
        }

        using FlowSession setup = FlowSession.OpenFirst(settings);
        string methodName = setup.MethodName(settings.Solver.Method == "discrete" ? "auto" : settings.Solver.Method);
        return SolveAndDiagnose(settings, setup, methodName, times, null, [], options, progress);
    }

    /// <summary>
    /// Diagnoses the run in <paramref name="runDirectory"/> (a folder of <c>ibflow run</c> with config.json and
    /// checkpoint.bin, e.g. one stopped with Ctrl+C) at its checkpoint's time, and at any later times in
    /// <paramref name="options"/> by continuing its solve from there as <c>ibflow run --resume</c> would (the folder
    /// is only read). Mistakes (no run folder, no checkpoint, a discrete run, times before the checkpoint) throw
    /// <see cref="ExperimentException"/>.
    /// </summary>
    /// <param name="runDirectory">The run folder.</param>
    /// <param name="options">Later times (may be empty: the checkpoint alone) and Krylov sizes.</param>
    /// <param name="progress">Receives the continued solve's progress (may be null).</param>
    public static DiagnosisResult RunFrom(string runDirectory, DiagnosisOptions options, ProgressReporter? progress = null)
    {
        ArgumentNullException.ThrowIfNull(runDirectory);
        ArgumentNullException.ThrowIfNull(options);
        string config = Path.Combine(runDirectory, "config.json");
        if (!File.Exists(config))
        {
            throw new ExperimentException(runDirectory, "--from", runDirectory, "give a run folder of ibflow run (one holding config.json and checkpoint.bin)");
        }

        ExperimentSettings settings = ExperimentLoader.Load(config, useEnvironment: false);
        if (settings.Solver.Method == "discrete")
        {
            throw new ExperimentException(config, "Solver:Method", "discrete", "a discrete run's checkpoint holds the optimizer's iterate, not a state of the flow; diagnose the experiment with --at instead");
        }

        using FlowSession setup = FlowSession.OpenFirst(settings);
        OptimizerFlow flow = setup.Flow;
        var observer = new TrajectoryObserver(flow, setup.Evaluator, ObservedFlow.OwnNorm(flow), setup.Theta0) { SharpnessDimension = settings.Save.Sharpness ? ExperimentRunner.SharpnessLanczosSteps : 0 };
        RunCheckpoint.Contents? restored;
        try
        {
            restored = RunCheckpoint.Read(runDirectory, observer, flow.Drift);
        }
        catch (InvalidDataException e)
        {
            throw new ExperimentException(Path.Combine(runDirectory, RunCheckpoint.FileName), $"the checkpoint cannot be read ({e.Message})");
        }

        if (restored is null)
        {
            throw new ExperimentException(runDirectory, "--from", runDirectory, "it has no checkpoint.bin (a finished run deletes its own); diagnose the experiment at chosen times with --at instead");
        }

        OdeCheckpoint engine = restored.Engine;
        double[] later = options.Times.Distinct().Order().ToArray();
        if (later.Length > 0 && (later[0] < engine.Time || !double.IsFinite(later[^1])))
        {
            throw new ExperimentException(runDirectory, "--at", string.Join(",", later.Select(t => t.ToString("G6", CultureInfo.InvariantCulture))), $"with --from the times must be finite and at or after the checkpoint's t = {engine.Time.ToString("G6", CultureInfo.InvariantCulture)}");
        }

        string methodName = setup.MethodName(settings.Solver.Method);
        var first = new DiagnosisPoint[] { Diagnose(flow, engine.Time, engine.State, engine.StepSize, engine.RhsEvaluations, options) };
        later = later.Where(t => t > engine.Time).ToArray();
        if (later.Length == 0)
        {
            return new DiagnosisResult(settings.Name, setup.Optimizer.Label, methodName, setup.Tolerances.RelTol, first, "Checkpoint", engine.Time);
        }

        // The run's own save cursor indexes its save times, not these.
        return SolveAndDiagnose(settings, setup, methodName, later, engine with { NextSave = 0 }, first, options, progress);
    }

    private static DiagnosisResult SolveAndDiagnose(
        ExperimentSettings settings, FlowSession setup, string methodName, double[] times, OdeCheckpoint? resumeFrom, IReadOnlyList<DiagnosisPoint> before, DiagnosisOptions options, ProgressReporter? progress)
    {
        OptimizerFlow flow = setup.Flow;
        var saved = new List<(double T, double[] Y, double H, long Evaluations)>();
        StepInfo last = default;
        var solve = new FlowSolveOptions
        {
            Method = methodName,
            TargetLogLoss = settings.Stop.TargetLogLoss,
            MaxTime = times[^1],
            MaxSteps = settings.Stop.MaxSteps,
            SaveAt = SaveAt.Times(times),
            KeepSavedStates = false,
            ResumeFrom = resumeFrom,
            OnStep = info =>
            {
                if (info.Accepted)
                {
                    last = info;
                    progress?.Report(new ProgressSample(info.Time, flow.LastLogLoss, info.StepSize, info.AcceptedSteps, info.RejectedSteps, info.RhsEvaluations));
                }
            },
            OnSave = (t, y) => saved.Add((t, (double[])y.Clone(), last.StepSize, last.RhsEvaluations)),
        };
        OdeResult result = FlowSolver.Solve(flow, setup.Theta0, solve);
        progress?.Finish(new ProgressSample(result.FinalTime, flow.LastLogLoss, last.StepSize, result.AcceptedSteps, result.RejectedSteps, result.RhsEvaluations), result.Status.ToString());

        var points = new List<DiagnosisPoint>(before);
        foreach ((double t, double[] y, double h, long evaluations) in saved)
        {
            points.Add(Diagnose(flow, t, y, h, evaluations, options));
        }

        return new DiagnosisResult(settings.Name, setup.Optimizer.Label, methodName, setup.Tolerances.RelTol, points, result.Status.ToString(), result.FinalTime);
    }

    private static DiagnosisPoint Diagnose(OptimizerFlow flow, double t, double[] y, double h, long evaluations, DiagnosisOptions options)
    {
        var spectrum = new SpectrumOptions(options.Count, options.KrylovDimension, options.TopCoordinates);
        IReadOnlyList<FlowMode> modes = FlowJacobianSpectrum.Compute(flow, t, y, spectrum);
        IReadOnlyList<FlowMode> nonlinear = flow.Layout.IsSemilinear
            ? FlowJacobianSpectrum.Compute(flow, t, y, spectrum with { IncludeDecay = false })
            : modes;
        SharpnessResult? sharpness = PreconditionedSharpness.Compute(flow, t, y, options.LanczosDimension);
        double c1 = flow.Parts[0].C1;
        (string, double)[] pair = sharpness is not null && flow.Parts[0].HasMomentum && c1 > 0
            ? PairMethods.Select(m => (m, StepperStability.LargestStableStep(MethodCatalog.Find(m)!, c1, sharpness.Eta * sharpness.Largest))).ToArray()
            : [];
        return new DiagnosisPoint(t, flow.LogLoss(y), h, evaluations, modes, nonlinear, sharpness, pair)
        {
            DecayRates = flow.Layout.Blocks.Select(b => b.DecayRate).Where(c => c > 0).Distinct().ToArray(),
        };
    }
}
