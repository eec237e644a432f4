using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;
using ILGPU.Runtime;
using ImplicitBias.Flow.Core.Numerics;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// The vector field of an <see cref="OptimizerFlow"/> (docs/mathematics.md §2, Eqs. 2–8, in the flow's scaled variables θ,
/// σ = log L, m̃ = m e^{−σ}, ṽ = v e^{−2σ}) evaluated entirely in device memory, so that a solve over
/// <see cref="IlgpuStateAlgebra"/> keeps θ, the moments and every stage on the device. The layout, parts,
/// schedules and part offsets are the host flow's own; this class only replaces its span arithmetic by kernels.
/// Per evaluation the host sees scalars only: log L from the gradient, σ and the moments' log scales from the state, the norms and maxima the
/// directions need, and ⟨∇ log L, dθ/dt⟩. Kernels are loaded and buffers allocated once, in the constructor.
/// The accelerator and the evaluator belong to the caller and must outlive this object.
/// </summary>
public sealed class DeviceOptimizerFlow : IOdeTerm<DeviceState>, IDisposable
{
    private readonly OptimizerFlow _flow;
    private readonly IlgpuGradientEvaluator _evaluator;
    private readonly Accelerator _accelerator;
    private readonly OptimizerPart[] _parts;
    private readonly int _n;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _gradient;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _terms;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _flags;
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _scalars; // [reduction result, flag maximum]
    private readonly double[] _host = new double[2];
    private readonly NewtonSchulzPolar?[] _polar; // per parameter block of a polar part, matrices only

    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>, double, double> _scale;
    private readonly Action<Index1D, ArrayView<double>, double> _fill;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>, double> _exactSign;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>, double, double> _smoothSign;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, double, double, double, double> _adamRatio;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, double, double> _momentumSource;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, double, double> _secondMomentSource;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>> _absoluteValue;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>> _square;
    private readonly Action<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>> _dotTerms;
    private readonly Reduction<double, Stride1D.Dense> _sum;
    private readonly Reduction<double, Stride1D.Dense> _max;
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

        if (!Supports(flow))
        {
            throw new NotSupportedException($"The device kernels have no direction for '{string.Join("+", flow.Parts.Select(p => p.Name))}' (a Defined geometry); solve it on the host.");
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
        _terms = accelerator.Allocate1D<double>(_n);
        _flags = accelerator.Allocate1D<double>(_n);
        _scalars = accelerator.Allocate1D<double>(2);

        // One Newton–Schulz workspace per matrix block of a polar part; the output row (1 × k) is normalized
        // instead, as PolarScratch does (its U Vᵀ is u/‖u‖₂, Sec. 6).
        ParameterLayout parameters = flow.Parameters;
        _polar = new NewtonSchulzPolar?[parameters.Blocks.Count];
        foreach (OptimizerPart p in _parts.Where(p => p.Geometry == UpdateGeometry.Polar))
        {
            for (int b = p.FirstBlock; b < p.FirstBlock + p.BlockCount; b++)
            {
                ParameterBlock block = parameters.Blocks[b];
                if (block.Rows > 1 && block.Cols > 1)
                {
                    _polar[b] = new NewtonSchulzPolar(accelerator, block.Rows, block.Cols);
                }
            }
        }

        _scale = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, double, double>(FlowKernels.Scale);
        _fill = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, double>(FlowKernels.Fill);
        _exactSign = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, double>(FlowKernels.ExactSign);
        _smoothSign = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, double, double>(FlowKernels.SmoothSign);
        _adamRatio = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, double, double, double, double>(FlowKernels.AdamRatio);
        _momentumSource = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, double, double>(FlowKernels.MomentumSource);
        _secondMomentSource = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, double, double>(FlowKernels.SecondMomentSource);
        _absoluteValue = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>>(FlowKernels.AbsoluteValue);
        _square = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>>(FlowKernels.Square);
        _dotTerms = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>>(FlowKernels.DotTerms);
        _sum = accelerator.CreateReduction<double, Stride1D.Dense, AddDouble>();
        _max = accelerator.CreateReduction<double, Stride1D.Dense, MaxDouble>();
    }

    /// <summary>True when the kernels implement every part's direction (the built-in geometries; not a definition's own).</summary>
    public static bool Supports(OptimizerFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        return flow.Parts.All(p => p.Geometry != UpdateGeometry.Defined);
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

        _fill((int)y.Length, y.View, 0.0);
        ArrayView<double> theta = y.View.SubView(0, _n);
        theta.CopyFromCPU(theta0);
        double logLoss = _evaluator.EvaluateOnDevice(theta, _gradient.View);
        GradientEvaluations++;
        _fill(1, y.View.SubView(_n, 1), logLoss);

        // λ_m = σ(0), λ_v = 2σ(0): the moments start in the plain scaling (OptimizerFlow.InitialState).
        for (int i = 0; i < _parts.Length; i++)
        {
            if (_flow.MomentumScaleBlock(i) >= 0)
            {
                _fill(1, y.View.SubView(Layout.Offset(_flow.MomentumScaleBlock(i)), 1), logLoss);
            }

            if (_flow.SecondMomentScaleBlock(i) >= 0)
            {
                _fill(1, y.View.SubView(Layout.Offset(_flow.SecondMomentScaleBlock(i)), 1), 2 * logLoss);
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
        _fill(1, y.View.SubView(_n, 1), sigma);
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
        return ReadScalar(y.View.SubView(_n, 1));
    }

    /// <summary>
    /// dydt ← N(t, y), the nonlinear part of the flow (the decay −c y of the m̃ and ṽ blocks is in the layout),
    /// as <see cref="OptimizerFlow.Evaluate"/> computes it on the host.
    /// </summary>
    public void Evaluate(double t, DeviceState y, DeviceState dydt)
    {
        Check(y);
        Check(dydt);
        ArrayView<double> state = y.View;
        ArrayView<double> rate = dydt.View;
        ArrayView<double> g = _gradient.View;
        double logLoss = _evaluator.EvaluateOnDevice(state.SubView(0, _n), g);
        GradientEvaluations++;
        LastLogLoss = logLoss;
        double sigma = ReadScalar(state.SubView(_n, 1));
        ArrayView<double> thetaDot = rate.SubView(0, _n);

        for (int i = 0; i < _parts.Length; i++)
        {
            Direction(i, t, state, logLoss, thetaDot.SubView(_flow.PartOffset(i), _flow.PartLength(i)));
        }

        // dσ/dt = d log L(θ(t))/dt = ⟨∇ log L, dθ/dt⟩.
        double sigmaDot = Dot(g, thetaDot);
        _fill(1, rate.SubView(_n, 1), sigmaDot);

        for (int i = 0; i < _parts.Length; i++)
        {
            OptimizerPart p = _parts[i];
            int length = _flow.PartLength(i);
            ArrayView<double> gp = g.SubView(_flow.PartOffset(i), length);
            if (p.HasMomentum)
            {
                int o = Layout.Offset(_flow.MomentumBlock(i));
                int so = Layout.Offset(_flow.MomentumScaleBlock(i));
                double lambda = ReadScalar(state.SubView(so, 1));
                double lambdaDot = OptimizerFlow.LogScaleRate(sigma, sigmaDot, lambda, p.C1);
                _fill(1, rate.SubView(so, 1), lambdaDot);

                // N_m = c1 e^{ℓ−λ} ∇log L − λ′ m̃ (exponent clamped as on the host).
                _momentumSource(length, gp, state.SubView(o, length), rate.SubView(o, length), p.C1 * Math.Exp(Math.Clamp(logLoss - lambda, -700, 700)), -lambdaDot);
            }

            if (p.HasSecondMoment)
            {
                int o = Layout.Offset(_flow.SecondMomentBlock(i));
                int so = Layout.Offset(_flow.SecondMomentScaleBlock(i));
                double lambda = ReadScalar(state.SubView(so, 1));
                double lambdaDot = OptimizerFlow.LogScaleRate(2 * sigma, 2 * sigmaDot, lambda, p.C2);
                _fill(1, rate.SubView(so, 1), lambdaDot);

                // N_v = c2 e^{2ℓ−λ} (∇log L)² − λ′ ṽ.
                _secondMomentSource(length, gp, state.SubView(o, length), rate.SubView(o, length), p.C2 * Math.Exp(Math.Clamp((2 * logLoss) - lambda, -700, 700)), -lambdaDot);
            }
        }
    }

    /// <summary>Frees the buffers and Newton–Schulz workspaces (not the evaluator nor the accelerator).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (NewtonSchulzPolar? polar in _polar)
        {
            polar?.Dispose();
        }

        _scalars.Dispose();
        _flags.Dispose();
        _terms.Dispose();
        _gradient.Dispose();
    }

    /// <summary>thetaDot ← −η(t) · direction of part i (OptimizerFlow.Direction on device views).</summary>
    private void Direction(int i, double t, ArrayView<double> state, double logLoss, ArrayView<double> thetaDot)
    {
        OptimizerPart p = _parts[i];
        int offset = _flow.PartOffset(i);
        int length = _flow.PartLength(i);
        ArrayView<double> g = _gradient.View.SubView(offset, length);
        double eta = _flow.Schedules[i].Eta(t);
        ArrayView<double> m = p.HasMomentum ? state.SubView(Layout.Offset(_flow.MomentumBlock(i)), length) : default;

        if (p.Geometry == UpdateGeometry.Raw)
        {
            // GD: −η g = −η e^{ℓ} ∇log L; MomentumGD: −η m = −η e^{λ_m} m̃ (0 at t = 0, no limit needed).
            bool fromGradient = p.Source == UpdateSource.Gradient;
            double logScale = fromGradient ? logLoss : ReadScalar(state.SubView(Layout.Offset(_flow.MomentumScaleBlock(i)), 1));
            _scale(length, fromGradient ? g : m, thetaDot, -eta * Math.Exp(logScale), 1.0);
            return;
        }

        if (p.Geometry == UpdateGeometry.AdamRatio)
        {
            // Eq. 8; at t = 0 (m = v = 0) the t → 0⁺ limit sign(g(0)) (docs/mathematics.md §2), as Directions.AdamRatio.
            if (t <= 0)
            {
                _exactSign(length, g, thetaDot, -eta);
                return;
            }

            // m/(√v + ε) = e^{λ_m − λ_v/2} m̃/(√ṽ + ε e^{−λ_v/2}), as on the host.
            ArrayView<double> v = state.SubView(Layout.Offset(_flow.SecondMomentBlock(i)), length);
            double lambdaM = ReadScalar(state.SubView(Layout.Offset(_flow.MomentumScaleBlock(i)), 1));
            double lambdaV = ReadScalar(state.SubView(Layout.Offset(_flow.SecondMomentScaleBlock(i)), 1));
            double scaledEpsilon = p.Epsilon == 0 ? 0 : p.Epsilon * Math.Exp(Math.Min(-lambdaV / 2, 700));
            double bias1 = -ScalarMath.ExpM1(-p.C1 * t);
            double bias2 = -ScalarMath.ExpM1(-p.C2 * t);
            double factor = Math.Exp(Math.Clamp(lambdaM - (lambdaV / 2), -700, 700));
            _adamRatio(length, m, v, thetaDot, 1 / bias1, 1 / bias2, scaledEpsilon, -eta * factor);
            return;
        }

        // At t = 0, m = v = 0 and the normalized directions take their t → 0⁺ limits, computed from g(0) (docs/mathematics.md §2).
        ArrayView<double> source = p.Source == UpdateSource.Gradient || t <= 0 || MaxAbs(m) == 0 ? g : m;
        switch (p.Geometry)
        {
            case UpdateGeometry.L2:
                NormalizedL2(source, thetaDot, -eta);
                break;
            case UpdateGeometry.Sign:
                if (p.SignMode == SignMode.Exact)
                {
                    _exactSign(length, source, thetaDot, -eta);
                    break;
                }

                // δ = width · max|s|, relative to the part's own scale (Directions.Sign).
                double delta = p.SignWidth * MaxAbs(source);
                if (delta == 0 || !double.IsFinite(delta))
                {
                    _fill(length, thetaDot, 0.0);
                    break;
                }

                _smoothSign(length, source, thetaDot, 1 / delta, -eta);
                break;
            case UpdateGeometry.Polar:
                for (int b = p.FirstBlock; b < p.FirstBlock + p.BlockCount; b++)
                {
                    int start = _flow.Parameters.Offset(b) - offset;
                    int blockLength = _flow.Parameters.Blocks[b].Length;
                    Polar(b, source.SubView(start, blockLength), thetaDot.SubView(start, blockLength), -eta);
                }

                break;
            default:
                throw new InvalidOperationException($"Unknown update geometry {p.Geometry}.");
        }
    }

    /// <summary>d ← U Vᵀ of block b's matrix s times −η; a vector block is normalized (its 1 × k polar factor).</summary>
    private void Polar(int block, ArrayView<double> s, ArrayView<double> d, double minusEta)
    {
        NewtonSchulzPolar? polar = _polar[block];
        if (polar is null)
        {
            NormalizedL2(s, d, minusEta);
            return;
        }

        // Newton–Schulz sums squares with ILGPU's atomic add, which never ends on NaN: a source that is not
        // finite gives a NaN direction (the step is rejected) without entering the iteration.
        if (!double.IsFinite(SumOfSquares(s)))
        {
            _fill((int)s.Length, d, double.NaN);
            return;
        }

        polar.Compute(s, d);
        _scale((int)d.Length, d, d, minusEta, 1.0);
    }

    /// <summary>d ← (s/‖s‖₂) · (−η), 0 when s = 0 or ‖s‖₂ is not finite (Directions.NormalizedL2).</summary>
    private void NormalizedL2(ArrayView<double> s, ArrayView<double> d, double minusEta)
    {
        double norm = Math.Sqrt(SumOfSquares(s));
        if (norm == 0 || !double.IsFinite(norm))
        {
            _fill((int)d.Length, d, 0.0);
            return;
        }

        _scale((int)s.Length, s, d, 1 / norm, minusEta);
    }

    /// <summary>max_i |s_i|, +∞ when any entry is NaN or infinite.</summary>
    private double MaxAbs(ArrayView<double> s)
    {
        ArrayView<double> terms = _terms.View.SubView(0, s.Length);
        _absoluteValue((int)s.Length, s, terms);
        _max(_accelerator.DefaultStream, terms, _scalars.View.SubView(0, 1));
        return ReadScalar(_scalars.View.SubView(0, 1));
    }

    /// <summary>Σ_i s_i², +∞ when any entry is NaN or infinite.</summary>
    private double SumOfSquares(ArrayView<double> s)
    {
        ArrayView<double> terms = _terms.View.SubView(0, s.Length);
        _square((int)s.Length, s, terms);
        _sum(_accelerator.DefaultStream, terms, _scalars.View.SubView(0, 1));
        return ReadScalar(_scalars.View.SubView(0, 1));
    }

    /// <summary>⟨a, b⟩ by a sum reduction; NaN when a product is not finite or too large to sum safely (see FlowKernels.DotTerms).</summary>
    private double Dot(ArrayView<double> a, ArrayView<double> b)
    {
        AcceleratorStream stream = _accelerator.DefaultStream;
        _dotTerms((int)a.Length, a, b, _terms.View, _flags.View);
        _sum(stream, _terms.View, _scalars.View.SubView(0, 1));
        _max(stream, _flags.View, _scalars.View.SubView(1, 1));
        ((ArrayView<double>)_scalars.View).CopyToCPU(_host.AsSpan());
        return _host[1] != 0 ? double.NaN : _host[0];
    }

    private double ReadScalar(ArrayView<double> view)
    {
        view.CopyToCPU(_host.AsSpan(0, 1));
        return _host[0];
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
