using ILGPU.Runtime;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Solvers;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// Solves an <see cref="OptimizerFlow"/> with its whole state in device memory: <see cref="DeviceOptimizerFlow"/>
/// as the term and <see cref="IlgpuStateAlgebra"/> as the vector operations, through the same
/// <see cref="FlowSolver"/> options as the host solve (method choice, terminal event on σ, saves, callbacks).
/// Per step only scalars reach the host (error norm, finiteness, σ for the event, the flow's norms and dot
/// products); states are copied to the host at save times and at the end only (the result's
/// <see cref="OdeResult.FinalState"/> and <see cref="OdeResult.SavedStates"/>, and the save callback's argument).
/// Set it as <see cref="FlowSolveOptions.Engine"/> to route a solve made elsewhere (e.g. an observed run) here.
/// </summary>
public sealed class DeviceFlowSolver : IFlowSolveEngine
{
    private readonly IlgpuGradientEvaluator _evaluator;
    private readonly Accelerator _accelerator;
    private DeviceOptimizerFlow? _last;

    /// <summary>Creates the engine.</summary>
    /// <param name="evaluator">The flow's gradient evaluator (<see cref="Precision.Float64"/>), on <paramref name="accelerator"/>.</param>
    /// <param name="accelerator">The device; not owned.</param>
    public DeviceFlowSolver(IlgpuGradientEvaluator evaluator, Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(evaluator);
        ArgumentNullException.ThrowIfNull(accelerator);
        if (evaluator.Precision != Precision.Float64)
        {
            throw new ArgumentException("A device-resident solve needs a Float64 evaluator.", nameof(evaluator));
        }

        _evaluator = evaluator;
        _accelerator = accelerator;
    }

    /// <summary>
    /// The device engine of a backend: non-null for the ILGPU backends (ilgpu-cpu, cuda) in double precision,
    /// null for the managed CPU backend (or a single-precision evaluator), whose solve stays on the host.
    /// </summary>
    public static DeviceFlowSolver? For(GradientBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        return backend is { Oracle: IlgpuGradientEvaluator { Precision: Precision.Float64 } evaluator, Accelerator: { } accelerator }
            ? new DeviceFlowSolver(evaluator, accelerator)
            : null;
    }

    /// <summary>log L(θ) at the last evaluation of the current (or last) solve, for progress reports.</summary>
    public double LastLogLoss => _last?.LastLogLoss ?? double.NaN;

    /// <summary>Gradient evaluations of the current (or last) solve, the initial state's included.</summary>
    public long GradientEvaluations => _last?.GradientEvaluations ?? 0;

    /// <inheritdoc />
    public OdeResult Solve(OptimizerFlow flow, ReadOnlySpan<double> theta0, FlowSolveOptions options)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(options);
        using var term = new DeviceOptimizerFlow(flow, _evaluator, _accelerator);
        using var algebra = new OwningAlgebra(new IlgpuStateAlgebra(_accelerator, flow.Layout));
        DeviceState y0 = algebra.Allocate();
        term.InitialState(theta0, y0);
        _last = term;
        var access = new FlowStateAccess<DeviceState>(term.LogLoss, term.SetLogLoss, term.EvaluateLogLoss, () => term.LastLogLoss);
        return FlowSolver.Solve(flow, term, algebra, y0, access, options with { Engine = null });
    }

    /// <summary>
    /// The device algebra, also freeing every state it allocated (the solver's and the steppers' stages) when
    /// the solve ends, so that repeated solves do not leave device memory to the finalizers.
    /// </summary>
    private sealed class OwningAlgebra(IlgpuStateAlgebra inner) : IStateAlgebra<DeviceState>, IDisposable
    {
        private readonly List<DeviceState> _states = [];

        public StateLayout Layout => inner.Layout;

        public DeviceState Allocate()
        {
            DeviceState state = inner.Allocate();
            _states.Add(state);
            return state;
        }

        public void Copy(DeviceState source, DeviceState destination) => inner.Copy(source, destination);

        public void Combine(DeviceState y, ReadOnlySpan<double> yScale, ReadOnlySpan<double> coefficients, ReadOnlySpan<DeviceState> stages, bool perBlock, DeviceState destination) =>
            inner.Combine(y, yScale, coefficients, stages, perBlock, destination);

        public void BlockMaxAbs(DeviceState y, ReadOnlySpan<bool> blocks, Span<double> destination) => inner.BlockMaxAbs(y, blocks, destination);

        public double ScaledSquareSum(DeviceState y0, DeviceState y1, DeviceState error, ReadOnlySpan<double> relTol, ReadOnlySpan<double> absTol) =>
            inner.ScaledSquareSum(y0, y1, error, relTol, absTol);

        public bool AllFinite(DeviceState y) => inner.AllFinite(y);

        public void Read(DeviceState source, Span<double> destination) => inner.Read(source, destination);

        public void Write(ReadOnlySpan<double> source, DeviceState destination) => inner.Write(source, destination);

        public void Dispose()
        {
            foreach (DeviceState state in _states)
            {
                state.Dispose();
            }

            _states.Clear();
            inner.Dispose();
        }
    }
}
