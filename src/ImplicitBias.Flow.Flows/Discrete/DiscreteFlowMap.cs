using System.Numerics.Tensors;
using ImplicitBias.Flow.Core.Numerics;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Flows.Field;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Flows.Discrete;

/// <summary>
/// One step of the discrete optimizer of docs/mathematics.md §4 (App. B) written over its flow's own state
/// (<see cref="OptimizerFlow.Layout"/>), so that the engine's fixed-step loop (<see cref="DiscreteMap"/>) runs it: GD,
/// NGD, SignGD, SpectralGD, MomentumGD and its normalized form, Signum, Muon, Adam, per-block composites, and any
/// definition with a discrete form.
/// </summary>
/// <remarks>
/// <para>
/// The state at t_n = n h: θ_n in the θ block; log L(θ_n), computed by the model, in the σ block; each moment as
/// e^{s} x̃ with its mantissa x̃ in the flow's m̃ (ṽ) block and its log-scale s in the flow's λ block, the same
/// meaning the flow gives them (m = m̃ e^{λ_m}). The evaluation carried from step to step (see
/// <see cref="IDiscreteMapTerm{TState}"/>) holds ∇ log L(θ_n) in its θ block and log L(θ_n) in its σ block.
/// </para>
/// <para>
/// Step n (n = 1, 2, …) takes g_n = ∇L(θ_{n−1}), updates each part's moments by Eq. 19,
/// m_n = β1 m_{n−1} + (1 − β1) g_n, and (Adam) v_n = β2 v_{n−1} + (1 − β2) g_n², m_0 = v_0 = 0, and moves
/// θ_n = θ_{n−1} − h η(t_{n−1}) · d_n with t_n = n h and η the part's schedule η0ᵖ (t + t_off)^{−a}. The direction
/// d_n is the part's geometry applied to its source: g_n or m_n as is (GD, MomentumGD), normalized in ℓ2, its
/// exact sign (0 at 0; the part's smoothing width is not used), U Vᵀ per block (exact or Newton–Schulz, see
/// <see cref="PolarMethod"/>; the output row of a polar part is a 1 × k matrix, whose exact U Vᵀ is u/‖u‖₂ and whose
/// Newton–Schulz factor is about 0.696 u/‖u‖₂), Adam's m̂_n/(√v̂_n + ε) with m̂_n = m_n/(1 − β1ⁿ),
/// v̂_n = v_n/(1 − β2ⁿ) (Eq. 20), or the definition's own direction (<see cref="IDefinedDirection"/>).
/// </para>
/// <para>
/// The map to the flow (docs/mathematics.md §4): β = e^{−c h} with c the part's rate, so β1ⁿ = e^{−c1 t_n} and the
/// bias corrections are the flow's 1 − e^{−c t}. As h → 0 this is a first-order scheme for the flow; with h = 1,
/// t_off = 1 and c = −log β it is exactly the classic optimizer with β and η_n = η0 n^{−a}.
/// </para>
/// <para>
/// Scaling: nothing underflows as L → 0. The oracle gives log L and ∇ log L = g/L, and the moments keep full relative
/// precision at any L (<see cref="ScaledMoment"/>). The normalized, sign and polar directions are scale-free and use
/// x̃ directly. Adam's ratio is scale-free except for ε: m̂/(√v̂ + ε) = e^{s_m − s_v/2} (m̃/b1)/(√(ṽ/b2) + ε e^{−s_v/2}),
/// so ε enters relative to the scale of √v, ε/L in effect (as ε e^{−σ} in the flow); the exponent is handled so that
/// nothing overflows when L ≪ ε. Then Adam with ε &gt; 0 genuinely stalls (its step tends to 0), while ε = 0, the
/// theory's, keeps the ratio of order one at any L. GD and MomentumGD use the raw g = e^{log L} ∇ log L and
/// m = e^{s} m̃, and genuinely stall as L → 0: that is the optimizer, not round-off.
/// </para>
/// <para>
/// The step reads n from t (n = round(t/h) + 1) and uses its own h, so a step is the same bit for bit wherever a solve
/// starts and however t was rounded. Allocation: none per step, except inside the exact polar factor (MathNet's SVD
/// allocates its factors on every call); the Newton–Schulz polar factor does not allocate.
/// </para>
/// </remarks>
public sealed class DiscreteFlowMap : IDiscreteMapTerm<HostState>
{
    private readonly OptimizerFlow _flow;
    private readonly IGradientOracle _oracle;
    private readonly OptimizerPart[] _parts;
    private readonly ScaledMoment?[] _momentum;
    private readonly ScaledMoment?[] _secondMoment;
    private readonly int[] _offset;
    private readonly int[] _length;
    private readonly int[] _momentumOffset;
    private readonly int[] _secondMomentOffset;
    private readonly int[] _momentumScaleOffset;
    private readonly int[] _secondMomentScaleOffset;
    private readonly double[] _direction;
    private readonly double[] _lastSource;
    private readonly double[] _cachedTheta;
    private readonly double[] _cachedGradient;
    private readonly PolarScratch _polar;
    private readonly NewtonSchulz?[] _newtonSchulz;
    private double _cachedLogLoss = double.NaN;
    private bool _cacheValid;
    private long _lastStep;

    /// <summary>Creates the map of <paramref name="flow"/>'s discrete optimizer with time step <paramref name="stepSize"/>.</summary>
    /// <param name="flow">The flow: its parts, schedules, oracle and state layout.</param>
    /// <param name="stepSize">Time step h &gt; 0 (1: the classic discrete optimizer).</param>
    /// <param name="polar">Exact U Vᵀ or Newton–Schulz for the polar (Muon, SpectralGD) parts.</param>
    public DiscreteFlowMap(OptimizerFlow flow, double stepSize = 1.0, PolarMethod polar = PolarMethod.Exact)
    {
        ArgumentNullException.ThrowIfNull(flow);
        if (!(stepSize > 0) || !double.IsFinite(stepSize))
        {
            throw new ArgumentOutOfRangeException(nameof(stepSize), stepSize, "The time step h must be positive and finite.");
        }

        _flow = flow;
        _oracle = flow.Oracle;
        _parts = flow.Parts.ToArray();
        StepSize = stepSize;
        Polar = polar;
        foreach (OptimizerPart p in _parts)
        {
            if (!p.Definition.HasDiscreteForm)
            {
                throw new ArgumentException($"'{p.Name}' has no discrete form.", nameof(flow));
            }

            // c = 0 would mean β = 1: the average never takes in a gradient and m stays 0 (Eq. 19).
            if ((p.HasMomentum && !(p.C1 > 0 && double.IsFinite(p.C1))) || (p.HasSecondMoment && !(p.C2 > 0 && double.IsFinite(p.C2))))
            {
                throw new ArgumentException($"Part '{p.Name}' needs finite positive rates c (β = e^{{−c h}} < 1).", nameof(flow));
            }
        }

        ParameterLayout parameters = flow.Parameters;
        StateLayout layout = flow.Layout;
        int count = _parts.Length;
        _offset = new int[count];
        _length = new int[count];
        _momentumOffset = new int[count];
        _secondMomentOffset = new int[count];
        _momentumScaleOffset = new int[count];
        _secondMomentScaleOffset = new int[count];
        _momentum = new ScaledMoment?[count];
        _secondMoment = new ScaledMoment?[count];
        for (int i = 0; i < count; i++)
        {
            OptimizerPart p = _parts[i];
            _offset[i] = flow.PartOffset(i);
            _length[i] = flow.PartLength(i);
            _momentumOffset[i] = p.HasMomentum ? layout.Offset(flow.MomentumBlock(i)) : -1;
            _momentumScaleOffset[i] = p.HasMomentum ? layout.Offset(flow.MomentumScaleBlock(i)) : -1;
            _secondMomentOffset[i] = p.HasSecondMoment ? layout.Offset(flow.SecondMomentBlock(i)) : -1;
            _secondMomentScaleOffset[i] = p.HasSecondMoment ? layout.Offset(flow.SecondMomentScaleBlock(i)) : -1;
            _momentum[i] = p.HasMomentum ? new ScaledMoment(p.C1, stepSize, 1) : null;
            _secondMoment[i] = p.HasSecondMoment ? new ScaledMoment(p.C2, stepSize, 2) : null;
        }

        _polar = new PolarScratch(parameters);
        _newtonSchulz = parameters.Blocks.Select(b => polar == PolarMethod.NewtonSchulz ? new NewtonSchulz(b.Rows, b.Cols) : null).ToArray();
        _direction = new double[parameters.Length];
        _lastSource = new double[parameters.Length];
        _cachedTheta = new double[parameters.Length];
        _cachedGradient = new double[parameters.Length];
    }

    /// <summary>The flow whose state the map steps.</summary>
    public OptimizerFlow Flow => _flow;

    /// <inheritdoc />
    public double StepSize { get; }

    /// <summary>How polar factors are computed.</summary>
    public PolarMethod Polar { get; }

    /// <summary>Number of oracle evaluations so far (one per step, plus one at a start that the map has not seen).</summary>
    public long GradientEvaluations { get; private set; }

    /// <summary>d_n, the direction of the last step: θ_n = θ_{n−1} − h η(t_{n−1}) d_n, part by part (0 before the first step).</summary>
    public ReadOnlySpan<double> LastDirection => _direction;

    /// <summary>n of the last step taken (0 before the first).</summary>
    public long LastStepNumber => _lastStep;

    /// <summary>h η(t_{n−1}) of part <paramref name="part"/> in the last step n, the factor of its direction (0 before the first step).</summary>
    public double LastStepScale(int part) => _lastStep == 0 ? 0 : StepSize * _flow.Schedules[part].Eta((_lastStep - 1) * StepSize);

    /// <summary>log L(θ) at the map's last evaluation.</summary>
    public double LastLogLoss => _cachedLogLoss;

    /// <summary>∇ log L(θ) at the map's last evaluation.</summary>
    public ReadOnlySpan<double> LastRelativeGradient => _cachedGradient;

    /// <summary>
    /// The state at n = 0: θ_0, log L(θ_0), m = v = 0 with the plain scales λ_m = σ, λ_v = 2σ (as
    /// <see cref="OptimizerFlow.InitialState"/> writes it, with the one gradient evaluation kept for the first step).
    /// </summary>
    public void InitialState(ReadOnlySpan<double> theta0, Span<double> y)
    {
        int n = _cachedTheta.Length;
        if (theta0.Length != n || y.Length != _flow.Layout.Length)
        {
            throw new ArgumentException($"θ0 has {theta0.Length} values and y {y.Length}; expected {n} and {_flow.Layout.Length}.");
        }

        y.Clear();
        theta0.CopyTo(y);
        _cachedLogLoss = _oracle.Evaluate(theta0, _cachedGradient);
        theta0.CopyTo(_cachedTheta);
        _cacheValid = true;
        GradientEvaluations++;
        y[n] = _cachedLogLoss;
        _flow.SetPlainScales(y);
    }

    /// <summary>
    /// The evaluation at <paramref name="y"/>: ∇ log L(θ) into the θ block of <paramref name="evaluation"/>, log L(θ) into
    /// its σ block. The map's own last evaluation is reused when θ is the one it was made at (a solve that continues
    /// where the last one stopped costs no extra gradient).
    /// </summary>
    public void Evaluate(double t, HostState y, HostState evaluation)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(evaluation);
        int n = _cachedTheta.Length;
        ReadOnlySpan<double> theta = y.Values.AsSpan(0, n);
        if (!_cacheValid || !theta.SequenceEqual(_cachedTheta))
        {
            _cachedLogLoss = _oracle.Evaluate(theta, _cachedGradient);
            theta.CopyTo(_cachedTheta);
            _cacheValid = true;
            GradientEvaluations++;
        }

        _cachedGradient.CopyTo(evaluation.Values.AsSpan(0, n));
        evaluation.Values[n] = _cachedLogLoss;
    }

    /// <summary>Step n + 1 from t = t_n (see the class remarks); the evaluation at the new state is computed on the way.</summary>
    public void Step(double t, double h, HostState y, HostState evaluation, HostState yNext, HostState nextEvaluation)
    {
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(evaluation);
        ArgumentNullException.ThrowIfNull(yNext);
        ArgumentNullException.ThrowIfNull(nextEvaluation);
        if (!(Math.Abs(h - StepSize) <= 1e-6 * StepSize))
        {
            throw new ArgumentException($"The discrete map steps by h = {StepSize}; the solve asked for {h} (set its fixed step to the map's).", nameof(h));
        }

        int size = _cachedTheta.Length;
        long n = (long)Math.Round(t / StepSize) + 1;
        double tPrevious = (n - 1) * StepSize;
        ReadOnlySpan<double> gradient = evaluation.Values.AsSpan(0, size);
        double logLoss = evaluation.Values[size];
        Span<double> next = yNext.Values;
        y.Values.CopyTo(next);
        for (int i = 0; i < _parts.Length; i++)
        {
            OptimizerPart p = _parts[i];
            int o = _offset[i], len = _length[i];
            ReadOnlySpan<double> g = gradient.Slice(o, len);
            Span<double> d = _direction.AsSpan(o, len);
            Span<double> source = _lastSource.AsSpan(o, len);
            double sourceLogScale = logLoss;
            if (_momentum[i] is { } m)
            {
                Span<double> mantissa = next.Slice(_momentumOffset[i], len);
                m.Update(mantissa, ref next[_momentumScaleOffset[i]], n == 1, logLoss, g);
                mantissa.CopyTo(source);
                sourceLogScale = next[_momentumScaleOffset[i]];
            }
            else
            {
                g.CopyTo(source);
            }

            _secondMoment[i]?.Update(next.Slice(_secondMomentOffset[i], len), ref next[_secondMomentScaleOffset[i]], n == 1, logLoss, g);

            Direction(i, n, next, g, logLoss, source, sourceLogScale, d);

            // θ_n = θ_{n−1} − h η(t_{n−1}) d_n.
            double step = StepSize * _flow.Schedules[i].Eta(tPrevious);
            Span<double> theta = next.Slice(o, len);
            TensorPrimitives.MultiplyAdd(d, -step, theta, theta);
        }

        _lastStep = n;
        ReadOnlySpan<double> thetaNext = next[..size];
        _cachedLogLoss = _oracle.Evaluate(thetaNext, _cachedGradient);
        thetaNext.CopyTo(_cachedTheta);
        _cacheValid = true;
        GradientEvaluations++;
        next[size] = _cachedLogLoss;
        _cachedGradient.CopyTo(nextEvaluation.Values.AsSpan(0, size));
        nextEvaluation.Values[size] = _cachedLogLoss;
    }

    /// <summary>
    /// Writes <paramref name="y"/>'s moments in the flow's plain scaling (λ_m = σ, λ_v = 2σ: m̃ = m/L, ṽ = v/L²), the form
    /// the flow starts from and the observers read. The factor e^{s − kσ} is clamped at e^{709}, reached only if a moment
    /// exceeded L^k by a factor beyond 1e308.
    /// </summary>
    public void ToPlainScales(Span<double> y)
    {
        double sigma = y[_cachedTheta.Length];
        for (int i = 0; i < _parts.Length; i++)
        {
            if (_momentumOffset[i] >= 0)
            {
                Span<double> m = y.Slice(_momentumOffset[i], _length[i]);
                TensorPrimitives.Multiply(m, Factor(y[_momentumScaleOffset[i]] - sigma), m);
            }

            if (_secondMomentOffset[i] >= 0)
            {
                Span<double> v = y.Slice(_secondMomentOffset[i], _length[i]);
                TensorPrimitives.Multiply(v, Factor(y[_secondMomentScaleOffset[i]] - (2 * sigma)), v);
            }
        }

        _flow.SetPlainScales(y);
    }

    /// <summary>
    /// ‖NS(S) − U Vᵀ‖_F / ‖U Vᵀ‖_F over all polar blocks, where S is the source (momentum or gradient) of the last
    /// step: how much the Newton–Schulz Muon update differs from the exact one at this step (0 when no part is polar
    /// or no step was taken). A diagnostic: allocates.
    /// </summary>
    public double LastPolarDifference()
    {
        ParameterLayout parameters = _flow.Parameters;
        double squaredDifference = 0, squaredExact = 0;
        foreach (OptimizerPart p in _parts.Where(p => p.Geometry == UpdateGeometry.Polar))
        {
            for (int b = p.FirstBlock; b < p.FirstBlock + p.BlockCount; b++)
            {
                ParameterBlock shape = parameters.Blocks[b];
                ReadOnlySpan<double> s = ((ReadOnlySpan<double>)_lastSource).Slice(parameters.Offset(b), shape.Length);
                var exact = new double[shape.Length];
                var approx = new double[shape.Length];
                _polar.Compute(b, s, exact);
                new NewtonSchulz(shape.Rows, shape.Cols).Orthogonalize(s, approx);
                double distance = TensorPrimitives.Distance(approx, exact);
                squaredDifference += distance * distance;
                squaredExact += TensorPrimitives.Dot(exact, exact);
            }
        }

        return squaredExact == 0 ? 0 : Math.Sqrt(squaredDifference / squaredExact);
    }

    /// <summary>e^{x} with the exponent clamped so a factor is never ∞ (a clamped factor only multiplies what is negligible).</summary>
    internal static double Factor(double logFactor) => Math.Exp(Math.Min(logFactor, 709));

    private void Direction(int i, long n, ReadOnlySpan<double> y, ReadOnlySpan<double> g, double logLoss, ReadOnlySpan<double> source, double sourceLogScale, Span<double> d)
    {
        OptimizerPart p = _parts[i];
        ParameterLayout parameters = _flow.Parameters;
        switch (p.Geometry)
        {
            case UpdateGeometry.Raw:
                // GD: d = g = e^{log L} ∇log L; MomentumGD: d = m = e^{s} m̃. Underflows with L, as the optimizer does.
                TensorPrimitives.Multiply(source, Factor(sourceLogScale), d);
                break;
            case UpdateGeometry.L2:
                Directions.NormalizedL2(source, d);
                break;
            case UpdateGeometry.Sign:
                // The discrete optimizers use the exact sign (0 at 0), docs/mathematics.md §4.
                Directions.Sign(source, 0, SignMode.Exact, d);
                break;
            case UpdateGeometry.Polar:
                for (int b = p.FirstBlock; b < p.FirstBlock + p.BlockCount; b++)
                {
                    int start = parameters.Offset(b) - _offset[i];
                    int len = parameters.Blocks[b].Length;
                    if (_newtonSchulz[b] is { } ns)
                    {
                        ns.Orthogonalize(source.Slice(start, len), d.Slice(start, len));
                    }
                    else
                    {
                        _polar.Compute(b, source.Slice(start, len), d.Slice(start, len));
                    }
                }

                break;
            case UpdateGeometry.AdamRatio:
                AdamDirection(i, n, y, d);
                break;
            case UpdateGeometry.Defined:
            {
                // The definition's own direction, on the moments as e^{s} x̃ (the flow's λ and x̃) at t_n = n h.
                int len = _length[i];
                ReadOnlySpan<double> m = p.HasMomentum ? y.Slice(_momentumOffset[i], len) : default;
                ReadOnlySpan<double> v = p.HasSecondMoment ? y.Slice(_secondMomentOffset[i], len) : default;
                double lambdaM = p.HasMomentum ? y[_momentumScaleOffset[i]] : double.NaN;
                double lambdaV = p.HasSecondMoment ? y[_secondMomentScaleOffset[i]] : double.NaN;
                p.Definition.Direction!.Write(new DirectionInputs(p, n * StepSize, Discrete: true, logLoss, g, m, lambdaM, v, lambdaV), d);
                break;
            }

            default:
                throw new InvalidOperationException($"Unknown geometry {p.Geometry}.");
        }
    }

    /// <summary>Eq. 20: d = m̂_n/(√v̂_n + ε), with the scales of m and v kept apart (see the class remarks).</summary>
    private void AdamDirection(int i, long n, ReadOnlySpan<double> y, Span<double> d)
    {
        OptimizerPart p = _parts[i];
        int len = _length[i];
        ReadOnlySpan<double> mt = y.Slice(_momentumOffset[i], len), vt = y.Slice(_secondMomentOffset[i], len);
        double mLogScale = y[_momentumScaleOffset[i]], vLogScale = y[_secondMomentScaleOffset[i]];

        // 1 − βⁿ = 1 − e^{−c n h} = −expm1(−c t_n): the flow's bias correction at t_n, accurate for small c t_n.
        double bias1 = -ScalarMath.ExpM1(-p.C1 * StepSize * n);
        double bias2 = -ScalarMath.ExpM1(-p.C2 * StepSize * n);
        // d = e^{s_m − s_v/2} (m̃/b1) / (√(ṽ/b2) + e^{λε}) with λε = log ε − s_v/2 (ε relative to the scale of √v).
        // When ε/√v is beyond e^{0}, numerator and denominator are both divided by e^{λε}, so no factor overflows
        // however far L is below ε; the step then underflows towards 0, as Adam's genuinely does.
        double halfScale = 0.5 * vLogScale;
        double logEpsilon = p.Epsilon > 0 ? Math.Log(p.Epsilon) - halfScale : double.NegativeInfinity;
        double shift = Math.Max(0, logEpsilon);
        double scaledEpsilon = Math.Exp(logEpsilon - shift);
        // The flow's own element-wise Adam operator (Flows/Field), with v̂'s factor and ε carrying the shift; the scale
        // factor rides on 1/b1 (outer · m̃, then the division), the order this optimizer has always rounded in.
        var ratio = new AdamRatioOperator(Factor(mLogScale - halfScale - shift) / bias1, Math.Exp(-2 * shift) / bias2, scaledEpsilon, 1.0);
        HostFieldPrimitives.Elementwise.Map(mt, vt, d, ratio);
    }
}
