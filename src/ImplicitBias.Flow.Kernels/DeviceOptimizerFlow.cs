using ILGPU;
using ILGPU.Runtime;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Field;
using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// The vector field of an <see cref="OptimizerFlow"/> (docs/mathematics.md §2, Eqs. 2–8, in the flow's scaled variables θ,
/// σ, m̃ = m e^{−λ_m}, ṽ = v e^{−λ_v} and the log scales λ) evaluated entirely in device memory, so that a solve over
/// <see cref="IlgpuStateAlgebra"/> keeps θ, the moments and every stage on the device. A thin adapter: the mathematics
/// is the host flow's own <see cref="OptimizerField"/> (layout, parts, schedules), evaluated over
/// <see cref="DeviceFieldPrimitives"/> with log L and ∇ log L from the device evaluator. Per evaluation the host sees
/// scalars only: log L from the gradient, σ and the moments' log scales from the state, the norms and maxima the
/// directions need, and ⟨∇ log L, dθ/dt⟩ (a definition's own direction makes one round trip of its part's vectors).
/// Buffers are allocated once, in the constructor. The accelerator and the evaluator belong to the caller and must
/// outlive this object.
/// </summary>
public sealed class DeviceOptimizerFlow : IOdeTerm<DeviceState>, ITimeDerivativeTerm<DeviceState>, ICoordinateScaleTerm, IDisposable
{
    private readonly OptimizerFlow _flow;
    private readonly IlgpuGradientEvaluator _evaluator;
    private readonly Accelerator _accelerator;
    private readonly OptimizerPart[] _parts;
    private readonly int _n;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _gradient;
    private readonly DeviceFieldPrimitives _primitives;
    private bool _disposed;

    /// <summary>Prepares the device form of <paramref name="flow"/>.</summary>
    /// <param name="flow">The host flow: layout, parts and schedules are taken from it.</param>
    /// <param name="evaluator">A <see cref="Precision.Float64"/> evaluator of the same network and data, on <paramref name="accelerator"/>.</param>
    /// <param name="accelerator">The device; not owned.</param>
    public DeviceOptimizerFlow(OptimizerFlow flow, IlgpuGradientEvaluator evaluator, Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(flow);
        ArgumentNullException.ThrowIfNull(evaluator);
        ArgumentNullException.ThrowIfNull(accelerator);
        if (evaluator.Precision != Precision.Float64)
        {
            throw new ArgumentException("A device-resident flow needs a Float64 evaluator (device states are double).", nameof(evaluator));
        }

        if (evaluator.Layout.Length != flow.Parameters.Length)
        {
            throw new ArgumentException($"The evaluator has {evaluator.Layout.Length} parameters and the flow {flow.Parameters.Length}.", nameof(evaluator));
        }

        _flow = flow;
        _evaluator = evaluator;
        _accelerator = accelerator;
        _parts = flow.Parts.ToArray();
        _n = flow.Parameters.Length;
        _gradient = accelerator.Allocate1D<double>(_n);

        // One Newton–Schulz workspace per matrix block of a polar part; host copies for the parts with a Defined direction.
        IEnumerable<int> polarBlocks = _parts.Where(p => p.Geometry == UpdateGeometry.Polar).SelectMany(p => Enumerable.Range(p.FirstBlock, p.BlockCount));
        int definedLength = Enumerable.Range(0, _parts.Length).Where(i => _parts[i].Geometry == UpdateGeometry.Defined).Select(flow.PartLength).DefaultIfEmpty(0).Max();
        _primitives = new DeviceFieldPrimitives(accelerator, _n, flow.Parameters, polarBlocks, definedLength);
    }

    /// <summary>The host flow whose layout, parts and schedules this term evaluates.</summary>
    public OptimizerFlow Flow => _flow;

    /// <summary>The block structure of the state (the host flow's <see cref="OptimizerFlow.Layout"/>).</summary>
    public StateLayout Layout => _flow.Layout;

    /// <summary>The accelerator the states live on.</summary>
    public Accelerator Accelerator => _accelerator;

    /// <summary>Number of gradient evaluations so far (the initial state's included).</summary>
    public long GradientEvaluations { get; private set; }

    /// <summary>log L(θ) at the last evaluation.</summary>
    public double LastLogLoss { get; private set; } = double.NaN;

    /// <summary>
    /// The initial state on the device: θ(0), σ(0) = log L(θ(0)) (computed on the device), m̃ = ṽ = 0, λ_m = σ(0),
    /// λ_v = 2σ(0) — the
    /// device form of <see cref="OptimizerFlow.InitialState"/>.
    /// </summary>
    public void InitialState(ReadOnlySpan<double> theta0, DeviceState y)
    {
        Check(y);
        if (theta0.Length != _n)
        {
            throw new ArgumentException($"θ0 has {theta0.Length} values; expected {_n}.", nameof(theta0));
        }

        _primitives.Fill(y.View, 0.0);
        ArrayView<double> theta = y.View.SubView(0, _n);
        theta.CopyFromCPU(theta0);
        double logLoss = _evaluator.EvaluateOnDevice(theta, _gradient.View);
        GradientEvaluations++;
        _primitives.Write(y.View, _n, logLoss);

        // λ_m = σ(0), λ_v = 2σ(0): the moments start in the plain scaling (OptimizerFlow.InitialState).
        for (int i = 0; i < _parts.Length; i++)
        {
            if (_flow.MomentumScaleBlock(i) >= 0)
            {
                _primitives.Write(y.View, Layout.Offset(_flow.MomentumScaleBlock(i)), logLoss);
            }

            if (_flow.SecondMomentScaleBlock(i) >= 0)
            {
                _primitives.Write(y.View, Layout.Offset(_flow.SecondMomentScaleBlock(i)), 2 * logLoss);
            }
        }
    }

    /// <summary>Copies θ of a device state to the host.</summary>
    public void ReadTheta(DeviceState y, Span<double> theta)
    {
        Check(y);
        if (theta.Length != _n)
        {
            throw new ArgumentException($"θ has {_n} values, not {theta.Length}.", nameof(theta));
        }

        y.View.SubView(0, _n).CopyToCPU(theta);
    }

    /// <summary>Copies a whole device state (θ, σ, m̃, ṽ in <see cref="Layout"/>) to the host.</summary>
    public void ReadState(DeviceState y, Span<double> destination)
    {
        Check(y);
        if (destination.Length != Layout.Length)
        {
            throw new ArgumentException($"The state has {Layout.Length} values, not {destination.Length}.", nameof(destination));
        }

        y.View.CopyToCPU(destination);
    }

    /// <summary>Writes σ of a device state (one scalar write).</summary>
    public void SetLogLoss(DeviceState y, double sigma)
    {
        Check(y);
        _primitives.Write(y.View, _n, sigma);
    }

    /// <summary>log L(θ) of a device state computed by the model (one gradient evaluation, counted).</summary>
    public double EvaluateLogLoss(DeviceState y)
    {
        Check(y);
        double logLoss = _evaluator.EvaluateOnDevice(y.View.SubView(0, _n), _gradient.View);
        GradientEvaluations++;
        LastLogLoss = logLoss;
        return logLoss;
    }

    /// <summary>σ ≈ log L of a device state (one scalar read).</summary>
    public double LogLoss(DeviceState y)
    {
        Check(y);
        return _primitives.Read(y.View, _n);
    }

    /// <summary>
    /// dydt ← N(t, y), the nonlinear part of the flow (the decay −c y of the m̃ and ṽ blocks is in the layout): log L
    /// and ∇ log L on the device, then <see cref="OptimizerField.Evaluate"/> over <see cref="DeviceFieldPrimitives"/>, the
    /// same field <see cref="OptimizerFlow.Evaluate"/> evaluates on the host.
    /// </summary>
    public void Evaluate(double t, DeviceState y, DeviceState dydt)
    {
        Check(y);
        Check(dydt);
        ArrayView<double> g = _gradient.View;
        double logLoss = _evaluator.EvaluateOnDevice(y.View.SubView(0, _n), g);
        GradientEvaluations++;
        LastLogLoss = logLoss;
        _flow.Field.Evaluate<ArrayView<double>, ArrayView<double>, DeviceFieldPrimitives>(_primitives, t, y.View, dydt.View, logLoss, g);
    }

    /// <inheritdoc />
    public bool HasTimeDerivative => _flow.HasTimeDerivative;

    /// <inheritdoc />
    public bool HasCoordinateScales => _flow.HasCoordinateScales;

    /// <summary>The host flow's <see cref="OptimizerFlow.CoordinateScales"/> (the Krylov methods ask on a host copy of the state).</summary>
    public void CoordinateScales(double t, ReadOnlySpan<double> y, Span<double> scales) => _flow.CoordinateScales(t, y, scales);

    /// <summary>dndt ← ∂N/∂t at (t, y) given n = N(t, y), on the device, with no gradient (<see cref="OptimizerField.TimeDerivative"/>).</summary>
    public void TimeDerivative(double t, DeviceState y, DeviceState n, DeviceState destination)
    {
        Check(y);
        Check(n);
        Check(destination);
        _flow.Field.TimeDerivative<ArrayView<double>, ArrayView<double>, DeviceFieldPrimitives>(_primitives, t, y.View, n.View, destination.View);
    }

    /// <summary>Frees the buffers and Newton–Schulz workspaces (not the evaluator nor the accelerator).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _primitives.Dispose();
        _gradient.Dispose();
    }

    private void Check(DeviceState state)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(state);
        if (state.Length != Layout.Length)
        {
            throw new ArgumentException($"State of length {state.Length} does not fit the flow's layout ({Layout.Length}).");
        }
    }
}
