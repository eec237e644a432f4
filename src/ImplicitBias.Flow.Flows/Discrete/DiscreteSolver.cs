using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Flows.Discrete;

/// <summary>
/// Runs a discrete optimizer (<see cref="DiscreteFlowMap"/>) with the engine's fixed-step loop
/// (<see cref="OdeSolver.Solve{TState}"/> with <see cref="DiscreteMap"/>): the target event, saves, MaxSteps, the
/// non-finite status, cancellation and checkpoints are the engine's, as for a flow. <see cref="FlowSolver.Solve(OptimizerFlow, ReadOnlySpan{double}, FlowSolveOptions?)"/>
/// comes here for Method = "discrete".
/// </summary>
public static class DiscreteSolver
{
    /// <summary>
    /// Steps <paramref name="map"/> from the state <paramref name="y0"/> at t0 = k h until log L(θ_n) ≤ the target (judged
    /// on log L recomputed by the model at the state, as the flow's stop event), MaxSteps more steps, the last grid time
    /// n h ≤ MaxTime, a non-finite state or cancellation.
    /// </summary>
    /// <param name="map">The discrete optimizer; its step h is the solve's fixed step.</param>
    /// <param name="t0">The start, a grid time k h.</param>
    /// <param name="y0">The state at t0 in the flow's layout (not modified).</param>
    /// <param name="options">
    /// Stopping rules, saves and callbacks. Save times are moved to the nearest grid time (a map has nothing in between);
    /// <see cref="FlowSolveOptions.Method"/>, <see cref="FlowSolveOptions.FixedStep"/>, <see cref="FlowSolveOptions.Polar"/>
    /// and <see cref="FlowSolveOptions.Engine"/> are ignored (the map's own h and polar method are used, on the host).
    /// </param>
    /// <param name="plainScales">
    /// Whether saved and final states are reported with the moments in the flow's plain scaling (λ_m = σ, λ_v = 2σ; see
    /// <see cref="DiscreteFlowMap.ToPlainScales"/>), the form the observers read; otherwise the map's own log scales.
    /// Checkpoints always keep the map's own.
    /// </param>
    /// <returns>
    /// The engine's result. Its status: EventReached (target), MaxStepsReached (MaxSteps binds, also when MaxTime allows
    /// exactly as many steps), Success (MaxTime binds), NonFiniteState (the final state is the last finite one), Cancelled.
    /// </returns>
    public static OdeResult Solve(DiscreteFlowMap map, double t0, ReadOnlySpan<double> y0, FlowSolveOptions options, bool plainScales)
    {
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(options);
        OptimizerFlow flow = map.Flow;
        if (y0.Length != flow.Layout.Length)
        {
            throw new ArgumentException($"y0 has {y0.Length} values; the flow's state has {flow.Layout.Length}.", nameof(y0));
        }

        double h = map.StepSize;
        long k = (long)Math.Round(t0 / h);

        // The last step by time is the last grid point n h ≤ MaxTime. When MaxSteps binds (or both allow the same n),
        // the end lies beyond it so that the engine stops on MaxSteps; otherwise the end is that grid point.
        double byTime = Math.Floor(options.MaxTime / h) - k;
        long maxSteps = options.MaxSteps;
        double t1;
        if (byTime < maxSteps)
        {
            maxSteps = byTime >= 1 ? long.MaxValue : 0;
            t1 = byTime >= 1 ? t0 + (byTime * h) : t0 + h;
        }
        else
        {
            t1 = t0 + ((maxSteps + 1.0) * h); // in doubles: MaxSteps may be long.MaxValue
        }

        double target = options.TargetLogLoss;
        var solverOptions = new OdeOptions<HostState>
        {
            SaveAt = GridSaves(options.SaveAt ?? SaveAt.Nothing, t0, h),
            Events =
            [
                // σ of the map's state is log L(θ_n) from its own evaluation; the event is judged on log L recomputed by
                // the model at the state, as the flow's.
                new OdeEvent<HostState>((_, y) => flow.LogLoss(y.Values) - target, EventDirection.Falling)
                {
                    FiresAtStart = true,
                    ExactCondition = (_, y) => flow.EvaluateLogLoss(y.Values) - target,
                },
            ],
            StepCallback = options.OnStep,
            SaveCallback = !plainScales ? options.OnSave : (t, y) =>
            {
                map.ToPlainScales(y);
                options.OnSave?.Invoke(t, y);
            },
            KeepSavedStates = options.KeepSavedStates,
            MaxSteps = maxSteps,
            Cancellation = options.Cancellation,
            FixedStep = h,
            CheckpointDue = options.CheckpointDue,
            Checkpoint = options.Checkpoint,
            ResumeFrom = options.ResumeFrom,
        };
        var start = new HostState(y0.ToArray());
        OdeResult result = OdeSolver.Solve(map, new HostStateAlgebra(flow.Layout), new DiscreteMap(), t0, t1, start, solverOptions);
        if (plainScales && result.FinalState.Length > 0)
        {
            map.ToPlainScales(result.FinalState);
        }

        return result;
    }

    /// <summary>Save times moved to the grid t0 + i h (i ≥ 0), computed as the engine computes its grid.</summary>
    private static SaveAt GridSaves(SaveAt saveAt, double t0, double h)
    {
        if (saveAt.Kind != SaveAtKind.Times)
        {
            return saveAt;
        }

        double[] times = saveAt.RequestedTimes
            .Select(t => Math.Round((t - t0) / h))
            .Where(i => i >= 0)
            .Distinct()
            .Order()
            .Select(i => i == 0 ? t0 : t0 + ((long)i * h))
            .ToArray();
        return times.Length == 0 ? SaveAt.Nothing : SaveAt.Times(times);
    }
}
