using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Flows.Discrete;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Solvers;
using ImplicitBias.Flow.Solvers.Methods;
using ImplicitBias.Flow.Solvers.Rosenbrock;

namespace ImplicitBias.Flow.Flows;

/// <summary>How to integrate a flow.</summary>
public sealed record FlowSolveOptions
{
    /// <summary>
    /// Stepper name (see <see cref="MethodCatalog"/>), "auto" for <see cref="FlowSolver.DefaultMethod"/>, or "discrete"
    /// (<see cref="DiscreteMap.MethodName"/>) for the flow's discrete optimizer with h = <see cref="FixedStep"/>
    /// (<see cref="DiscreteSolver"/>).
    /// </summary>
    public string Method { get; init; } = "auto";

    /// <summary>
    /// Stop when log L ≤ this: a terminal event seen on the σ block and located on log L(θ) computed by the model
    /// (a drifted σ never ends a run), also when the target holds at t = 0.
    /// </summary>
    public double TargetLogLoss { get; init; } = Math.Log(1e-8);

    /// <summary>Stop at this flow time.</summary>
    public double MaxTime { get; init; } = 1e12;

    /// <summary>Stop after this many steps (attempted, accepted or rejected).</summary>
    public long MaxSteps { get; init; } = 1_000_000;

    /// <summary>The step size of a fixed-step method (euler, rk4, and h of "discrete"); adaptive methods ignore it.</summary>
    public double FixedStep { get; init; } = 1.0;

    /// <summary>How the discrete optimizer (Method = "discrete") computes polar factors; flows ignore it.</summary>
    public PolarMethod Polar { get; init; } = PolarMethod.Exact;

    /// <summary>Asked between two steps whether a checkpoint is due.</summary>
    public Func<bool>? CheckpointDue { get; init; }

    /// <summary>Receives the engine's checkpoints (when due, and when the solve is cancelled).</summary>
    public Action<OdeCheckpoint>? Checkpoint { get; init; }

    /// <summary>Continues the solve from this checkpoint (of the same flow, options and θ(0)).</summary>
    public OdeCheckpoint? ResumeFrom { get; init; }

    /// <summary>Where to save (default: t = 0 and 20 log-spaced points per decade from 1e-3 to <see cref="MaxTime"/>).</summary>
    public SaveAt? SaveAt { get; init; }

    /// <summary>Called after every step.</summary>
    public Action<StepInfo>? OnStep { get; init; }

    /// <summary>Called at every save with (t, y).</summary>
    public Action<double, double[]>? OnSave { get; init; }

    /// <summary>Whether to keep saved states in the result.</summary>
    public bool KeepSavedStates { get; init; } = true;

    /// <summary>Stops the solve cleanly (status Cancelled).</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>
    /// Where the state lives during the solve: null for host memory (<see cref="HostStateAlgebra"/> over
    /// <see cref="OptimizerFlow.Evaluate"/>); otherwise <see cref="FlowSolver.Solve(OptimizerFlow, ReadOnlySpan{double}, FlowSolveOptions?)"/>
    /// hands the whole solve to this engine (e.g. the device-resident solve of the Kernels project), so that
    /// callers that only see a flow and options, such as observers, run unchanged on a device.
    /// </summary>
    public IFlowSolveEngine? Engine { get; init; }
}

/// <summary>Integrates an <see cref="OptimizerFlow"/> with its state held elsewhere than in host arrays.</summary>
public interface IFlowSolveEngine
{
    /// <summary>
    /// Integrates <paramref name="flow"/> from θ(0) as <see cref="FlowSolver.Solve(OptimizerFlow, ReadOnlySpan{double}, FlowSolveOptions?)"/>
    /// does (same method choice, stopping rules, saves and callbacks), returning host copies of the final and saved states.
    /// </summary>
    OdeResult Solve(OptimizerFlow flow, ReadOnlySpan<double> theta0, FlowSolveOptions options);
}

/// <summary>Integrates an <see cref="OptimizerFlow"/> with the ODE engine: one entry point for runs and tests.</summary>
public static class FlowSolver
{
    /// <summary>
    /// The default stepper, chosen from measurements (STEPPERS.md: RHS evaluations to log L = −30 on a
    /// two-layer squared-ReLU problem, rtol 1e-6, atol 1e-9) and written in each optimizer's definition
    /// (<see cref="OptimizerDefinition.DefaultMethod"/>). Explicit steppers are held at h ≈ 3.3/c1 ≈ 31 by the
    /// momentum decay once the flow is slow (Adam, momentum GD), and ETDRK4, which integrates the decay exactly, is
    /// 3–200× cheaper there. Where the flow reaches the target before that bound binds (Muon-Adam, normalized
    /// momentum, sign and polar flows) the explicit steppers win: Tsitouras 5 for the polar directions,
    /// Bogacki–Shampine 3 for normalized momentum, DOPRI5 for the rest. A composite whose parts disagree takes the
    /// method of its part of highest <see cref="OptimizerDefinition.MethodPrecedence"/> (momentum GD's stiff decay,
    /// then the polar directions), or DOPRI5. When that method is explicit and the flow has a decay (momentum or
    /// second moment), the default is the pair "explicit+etdrk4" (<see cref="ExplicitThenExponential"/>): the explicit
    /// method for as long as its step stays below the decay's stability bound, which is every short run, and ETDRK4
    /// once that bound holds the step (Muon-Adam to log L = −1000: 357,734 evaluations with Tsitouras 5 alone,
    /// 16,022 with the pair). GD, NGD and SignGD, whose step on real data is held by a few sharp directions of N itself, default
    /// to the pair "dopri5+ros34pw2" (<see cref="ExplicitThenRosenbrock"/>): DOPRI5 until its own stiffness estimate says
    /// it is held at its stability bound, the Rosenbrock-W method from there on (NGD at Table 1 on MNIST: DOPRI5 alone
    /// spends 62,540 evaluations to reach t = 25; the pair switches at t = 4.6 and reaches L = 1e-8 at t = 416 after
    /// 21,587). Adam defaults to the measured pair "etdrk4+ros34pw2" (ETDRK4 through the initial transient, then the
    /// two by flow time per evaluation), whose W weighs m̃ and ṽ against the sizes at which they matter
    /// (<see cref="OptimizerFlow.CoordinateScales"/>): the Adam probe to L = 1e-8 in 14,854 evaluations against
    /// ETDRK4's 38,587, the paper's setting in 54,448 against 323,145.
    /// </summary>
    public static OdeMethod DefaultMethod(OptimizerFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        OdeMethod method = MethodCatalog.Find(DefaultMethodName(flow.Parts.Select(p => p.Definition).ToArray()))!;
        return method is ExplicitRungeKuttaMethod { IsAdaptive: true } && flow.Layout.IsSemilinear
            ? MethodCatalog.Find($"{method.Name}{MethodPair.Separator}{ExponentialHandOver}")!
            : method;
    }

    /// <summary>The exponential method the default hands a decay-held explicit solve to.</summary>
    public const string ExponentialHandOver = "etdrk4";

    /// <summary>The name of the default stepper of a flow with parts of these definitions (see <see cref="DefaultMethod"/>).</summary>
    public static string DefaultMethodName(IReadOnlyList<OptimizerDefinition> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Select(d => d.DefaultMethod).Distinct().Count() == 1)
        {
            return parts[0].DefaultMethod;
        }

        OptimizerDefinition? binding = parts.Where(d => d.MethodPrecedence > 0).MaxBy(d => d.MethodPrecedence);
        return binding?.DefaultMethod ?? "dopri5";
    }

    /// <summary>Log-spaced save times: t = 0 and <paramref name="perDecade"/> points per decade from <paramref name="first"/> to <paramref name="last"/>.</summary>
    public static SaveAt LogSpacedTimes(double last, int perDecade = 10, double first = 1e-3)
    {
        if (!(last > first))
        {
            return SaveAt.Times(0, last); // a horizon at or below the first save time: the two ends only
        }

        // Differences of logarithms: last / first overflows for last near double.MaxValue.
        int count = Math.Max(2, (int)Math.Ceiling((Math.Log10(last) - Math.Log10(first)) * perDecade) + 1);
        double ratio = (Math.Log(last) - Math.Log(first)) / (count - 1);
        var times = new double[count + 1];
        for (int i = 0; i < count; i++)
        {
            times[i + 1] = Math.Exp(Math.Log(first) + (ratio * i));
        }

        times[^1] = last;
        return SaveAt.Times(times);
    }

    /// <summary>
    /// Integrates the flow from θ(0) until the target loss, the time limit or the step limit, on the host or,
    /// when <see cref="FlowSolveOptions.Engine"/> is set, on that engine.
    /// </summary>
    public static OdeResult Solve(OptimizerFlow flow, ReadOnlySpan<double> theta0, FlowSolveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(flow);
        options ??= new FlowSolveOptions();
        if (options.Method == DiscreteMap.MethodName)
        {
            // The discrete optimizer steps the flow's state on the host (with the oracle's gradients, on any backend).
            var map = new DiscreteFlowMap(flow, options.FixedStep, options.Polar);
            var start = new double[flow.Layout.Length];
            map.InitialState(theta0, start);
            return DiscreteSolver.Solve(map, 0.0, start, options, plainScales: true);
        }

        if (options.Engine is { } engine)
        {
            return engine.Solve(flow, theta0, options with { Engine = null });
        }

        OdeMethod method = Method(flow, options);
        var algebra = new HostStateAlgebra(flow.Layout);
        var y0 = new HostState(flow.Layout.Length);
        flow.InitialState(theta0, y0.Values);
        var term = new HostOdeTerm(flow.Evaluate, flow.HasTimeDerivative ? flow.TimeDerivative : null, flow, flow);
        int sigmaIndex = flow.Parameters.Length;
        var access = new FlowStateAccess<HostState>(
            y => y.Values[sigmaIndex],
            (y, sigma) => y.Values[sigmaIndex] = sigma,
            y => flow.EvaluateLogLoss(y.Values),
            () => flow.LastLogLoss);
        return Run(flow, term, algebra, y0, access, method, options);
    }

    /// <summary>
    /// Integrates the flow with a given term and state algebra (e.g. a device-resident term and algebra), with the
    /// same method choice, terminal event on σ, saves and limits as the host solve.
    /// </summary>
    /// <typeparam name="TState">The storage of one state vector.</typeparam>
    /// <param name="flow">The flow (its parts choose the method; its layout must be the algebra's).</param>
    /// <param name="term">Evaluates the flow's nonlinear part on <typeparamref name="TState"/>.</param>
    /// <param name="algebra">Vector operations on states.</param>
    /// <param name="y0">The initial state (θ(0), σ(0) = log L(θ(0)), zero moments); not modified.</param>
    /// <param name="access">Reads and writes σ of a state and computes log L(θ) of a state (the terminal event and the anchoring of σ).</param>
    /// <param name="options">How to integrate; <see cref="FlowSolveOptions.Engine"/> is ignored.</param>
    public static OdeResult Solve<TState>(OptimizerFlow flow, IOdeTerm<TState> term, IStateAlgebra<TState> algebra, TState y0, FlowStateAccess<TState> access, FlowSolveOptions? options = null)
        where TState : class
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(term);
        ArgumentNullException.ThrowIfNull(algebra);
        ArgumentNullException.ThrowIfNull(access);
        options ??= new FlowSolveOptions();
        if (algebra.Layout.Length != flow.Layout.Length)
        {
            throw new ArgumentException($"The algebra's layout has {algebra.Layout.Length} components and the flow's {flow.Layout.Length}.", nameof(algebra));
        }

        return Run(flow, term, algebra, y0, access, Method(flow, options), options);
    }

    private static OdeMethod Method(OptimizerFlow flow, FlowSolveOptions options) => MethodFor(flow, options.Method);

    /// <summary>The method a solve of <paramref name="flow"/> runs for <c>Solver:Method</c> = <paramref name="name"/> ("auto" or a catalogue name).</summary>
    public static OdeMethod MethodFor(OptimizerFlow flow, string name)
    {
        ArgumentNullException.ThrowIfNull(flow);
        return ForFlow(flow, name == "auto"
            ? DefaultMethod(flow)
            : MethodCatalog.Find(name) ?? throw new ArgumentException($"Unknown method '{name}'; known: auto, {string.Join(", ", MethodCatalog.All.Concat(MethodCatalog.Pairs).Select(m => m.Name))}.", nameof(name)));
    }

    /// <summary>
    /// The method as it runs on this flow. The Rosenbrock-W defaults (a Krylov W of 60 vectors rebuilt every 20 steps,
    /// not after rejections but extended by 4 vectors from a rejected step's error) were measured on the momentless flows, where <c>auto</c> uses them (STEPPERS.md). On a flow
    /// with a moment, where a user names ros34pw2, they hold Adam's initial transient at h ≈ 1e-5 (Adam probe: t = 0.005
    /// after 5,855 evaluations: difference quotients of the ε = 0 ratio m̂/√v̂ fill a large space with spurious
    /// directions), while 12 vectors rebuilt every 10 steps and after every rejection reach t = 51 after 11,232; those
    /// settings are kept there (no extensions: the rebuild after a rejection makes them moot).
    /// </summary>
    private static OdeMethod ForFlow(OptimizerFlow flow, OdeMethod method)
    {
        if (!flow.Parts.Any(p => p.HasMomentum || p.HasSecondMoment))
        {
            return method;
        }

        return method switch
        {
            RosenbrockWMethod w => w.WithKrylov(MomentKrylovDimension, MomentRefreshEvery, rebuildAfterRejection: true, extendAfterRejection: 0),
            ExplicitThenRosenbrock pair => pair.WithThen(pair.Then.WithKrylov(MomentKrylovDimension, MomentRefreshEvery, rebuildAfterRejection: true, extendAfterRejection: 0)),
            ExponentialThenRosenbrock late => late.WithThen(late.Then.WithKrylov(LateMomentKrylovDimension, LateMomentRefreshEvery, rebuildAfterRejection: false, extendAfterRejection: 4)),
            _ => method,
        };
    }

    /// <summary>The Krylov dimension of a Rosenbrock-W method on a flow with a moment (see <see cref="ForFlow"/>).</summary>
    public const int MomentKrylovDimension = 12;

    /// <summary>Accepted steps between rebuilds of W on a flow with a moment (see <see cref="ForFlow"/>).</summary>
    public const int MomentRefreshEvery = 10;

    /// <summary>
    /// The Krylov dimension of the Rosenbrock-W method that takes over from ETDRK4 (<see cref="ExponentialThenRosenbrock"/>)
    /// on a flow with a moment, past the initial transient: measured on the Adam probe from t = 24,223 to 30,000, where 30
    /// vectors rebuilt every 20 steps and extended after rejections took 2,203 evaluations, 12 took 2,856, 20 took 2,433,
    /// 60 took 2,783 and ETDRK4 3,794 (STEPPERS.md).
    /// </summary>
    public const int LateMomentKrylovDimension = 30;

    /// <summary>
    /// Accepted steps between rebuilds of W in that phase (see <see cref="LateMomentKrylovDimension"/>): 40 since the
    /// secant updates keep W near the Jacobian between rebuilds. The whole Adam probe with <c>etdrk4+ros34pw2</c>: 20,620
    /// evaluations against 21,609 with 20, ℓ∞ margins 1.67e-5 from the reference in both (STEPPERS.md).
    /// </summary>
    public const int LateMomentRefreshEvery = 40;

    private static OdeResult Run<TState>(OptimizerFlow flow, IOdeTerm<TState> term, IStateAlgebra<TState> algebra, TState y0, FlowStateAccess<TState> access, OdeMethod method, FlowSolveOptions options)
        where TState : class
    {
        double target = options.TargetLogLoss;
        // A fresh drift record per solve; a resumed solve goes on with the record its caller restored.
        if (options.ResumeFrom is null)
        {
            flow.Drift = new LogLossDrift { StartLogLoss = access.Sigma(y0) };
        }

        var anchor = new LogLossAnchor<TState>(term, access, flow.Drift, target);
        var solverOptions = new OdeOptions<TState>
        {
            SaveAt = options.SaveAt ?? LogSpacedTimes(options.MaxTime),
            Events =
            [
                new OdeEvent<TState>((_, y) => access.Sigma(y) - target, EventDirection.Falling)
                {
                    FiresAtStart = true,
                    ExactCondition = (_, y) => anchor.ExactLogLoss(y) - target,
                },
            ],
            AfterStep = anchor.Anchor,
            ToleranceScale = () => flow.Drift.ToleranceScale,
            StepCallback = options.OnStep,
            SaveCallback = options.OnSave,
            KeepSavedStates = options.KeepSavedStates,
            MaxSteps = options.MaxSteps,
            Cancellation = options.Cancellation,
            FixedStep = method.IsAdaptive ? null : options.FixedStep,
            CheckpointDue = options.CheckpointDue,
            Checkpoint = options.Checkpoint,
            ResumeFrom = options.ResumeFrom,
        };
        OdeResult result = OdeSolver.Solve(anchor, algebra, method, 0.0, options.MaxTime, y0, solverOptions);
        if (result.Status == OdeStatus.EventReached && result.FinalState.Length > 0)
        {
            // The event was located on log L(θ) itself; σ of the final state is that value (host copy of the state).
            result.FinalState[flow.Parameters.Length] = flow.EvaluateLogLoss(result.FinalState);
            flow.Drift.ExactEvaluations++;
        }

        return result;
    }
}
