using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Flows;

/// <summary>How to integrate a flow.</summary>
public sealed record FlowSolveOptions
{
    /// <summary>Stepper name (see <see cref="MethodCatalog"/>) or "auto" for <see cref="FlowSolver.DefaultMethod"/>.</summary>
    public string Method { get; init; } = "auto";

    /// <summary>Stop when log L ≤ this (a terminal event on the σ block).</summary>
    public double TargetLogLoss { get; init; } = Math.Log(1e-8);

    /// <summary>Stop at this flow time.</summary>
    public double MaxTime { get; init; } = 1e12;

    /// <summary>Stop after this many accepted steps.</summary>
    public long MaxSteps { get; init; } = 1_000_000;

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
}

/// <summary>Integrates an <see cref="OptimizerFlow"/> with the ODE engine: one entry point for runs and tests.</summary>
public static class FlowSolver
{
    /// <summary>
    /// The default stepper, chosen from measurements (STEPPERS.md: RHS evaluations to log L = −30 on a
    /// two-layer squared-ReLU problem, rtol 1e-6, atol 1e-9). Explicit steppers are held at h ≈ 3.3/c1 ≈ 31
    /// by the momentum decay once the flow is slow (Adam, momentum GD), and ETDRK4, which integrates the decay
    /// exactly, is 3–200× cheaper there. Where the flow reaches the target before that bound binds (Muon-Adam,
    /// normalized momentum, sign and polar flows) the explicit steppers win: Tsitouras 5 for the polar
    /// directions, Bogacki–Shampine 3 for normalized momentum, DOPRI5 for the rest.
    /// </summary>
    public static OdeMethod DefaultMethod(OptimizerFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        IReadOnlyList<OptimizerPart> parts = flow.Parts;
        string name;
        if (parts.Any(p => p.Source == UpdateSource.Momentum && p.Geometry == UpdateGeometry.Raw) || parts.All(p => p.Source == UpdateSource.Adam))
        {
            name = "etdrk4";
        }
        else if (parts.Any(p => p.Geometry == UpdateGeometry.Polar))
        {
            name = "tsit5";
        }
        else if (parts.All(p => p.Source == UpdateSource.Momentum && p.Geometry == UpdateGeometry.L2))
        {
            name = "bs3";
        }
        else
        {
            name = "dopri5";
        }

        return MethodCatalog.Find(name)!;
    }

    /// <summary>Log-spaced save times: t = 0 and <paramref name="perDecade"/> points per decade from <paramref name="first"/> to <paramref name="last"/>.</summary>
    public static SaveAt LogSpacedTimes(double last, int perDecade = 10, double first = 1e-3)
    {
        int count = Math.Max(2, (int)Math.Ceiling(Math.Log10(last / first) * perDecade) + 1);
        double ratio = Math.Log(last / first) / (count - 1);
        var times = new double[count + 1];
        for (int i = 0; i < count; i++)
        {
            times[i + 1] = first * Math.Exp(ratio * i);
        }

        times[^1] = last;
        return SaveAt.Times(times);
    }

    /// <summary>Integrates the flow from θ(0) until the target loss, the time limit or the step limit.</summary>
    public static OdeResult Solve(OptimizerFlow flow, ReadOnlySpan<double> theta0, FlowSolveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(flow);
        options ??= new FlowSolveOptions();
        OdeMethod method = options.Method == "auto"
            ? DefaultMethod(flow)
            : MethodCatalog.Find(options.Method) ?? throw new ArgumentException($"Unknown method '{options.Method}'; known: auto, {string.Join(", ", MethodCatalog.All.Select(m => m.Name))}.", nameof(options));
        var algebra = new HostStateAlgebra(flow.Layout);
        var y0 = new HostState(flow.Layout.Length);
        flow.InitialState(theta0, y0.Values);
        var term = new HostOdeTerm(flow.Evaluate);
        int sigmaIndex = flow.Parameters.Length;
        double target = options.TargetLogLoss;
        var solverOptions = new OdeOptions<HostState>
        {
            SaveAt = options.SaveAt ?? LogSpacedTimes(options.MaxTime),
            Events = [new OdeEvent<HostState>((_, y) => y.Values[sigmaIndex] - target, EventDirection.Falling)],
            StepCallback = options.OnStep,
            SaveCallback = options.OnSave,
            KeepSavedStates = options.KeepSavedStates,
            MaxSteps = options.MaxSteps,
            Cancellation = options.Cancellation,
            FixedStepCount = method.IsAdaptive ? null : (int)Math.Min(options.MaxSteps, 1_000_000),
        };
        return OdeSolver.Solve(term, algebra, method, 0.0, options.MaxTime, y0, solverOptions);
    }
}
