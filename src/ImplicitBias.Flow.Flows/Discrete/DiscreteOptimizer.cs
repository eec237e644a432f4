using System.Numerics.Tensors;
using ImplicitBias.Flow.Core.Numerics;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Discrete;

/// <summary>Why <see cref="DiscreteOptimizer.Run"/> stopped.</summary>
public enum DiscreteStopReason
{
    /// <summary>log L reached the target.</summary>
    TargetReached,

    /// <summary>The step budget ran out.</summary>
    MaxSteps,

    /// <summary>θ or log L stopped being finite.</summary>
    NonFinite,
}

/// <summary>The outcome of <see cref="DiscreteOptimizer.Run"/>.</summary>
/// <param name="Optimizer">The stepper in its final state (θ, log L, moments).</param>
/// <param name="Reason">Why the run stopped.</param>
public sealed record DiscreteRunResult(DiscreteOptimizer Optimizer, DiscreteStopReason Reason);

/// <summary>
/// The discrete optimizers of docs/mathematics.md §4 (App. B) over the same <see cref="IGradientOracle"/> and
/// <see cref="OptimizerPart"/>s as <see cref="OptimizerFlow"/>: GD, NGD, SignGD, SpectralGD, MomentumGD and its
/// normalized form, Signum, Muon, Adam, and per-block composites such as Muon-Signum and Muon-Adam.
/// </summary>
/// <remarks>
/// <para>
/// Step n (n = 1, 2, …) evaluates g_n = ∇L(θ_{n−1}), updates each part's moments by Eq. 19,
/// m_n = β1 m_{n−1} + (1 − β1) g_n, and (Adam) v_n = β2 v_{n−1} + (1 − β2) g_n², m_0 = v_0 = 0, and moves
/// θ_n = θ_{n−1} − h η(t_{n−1}) · d_n with t_n = n h and η the part's schedule η0ᵖ (t + t_off)^{−a}. The direction
/// d_n is the part's geometry applied to its source: g_n or m_n as is (GD, MomentumGD), normalized in ℓ2, its
/// exact sign (0 at 0; the part's smoothing width is not used), U Vᵀ per block (exact or Newton–Schulz, see
/// <see cref="PolarMethod"/>; the output row of a polar part is a 1 × k matrix, whose exact U Vᵀ is u/‖u‖₂ and whose
/// Newton–Schulz factor is about 0.696 u/‖u‖₂), or Adam's m̂_n/(√v̂_n + ε) with m̂_n = m_n/(1 − β1ⁿ), v̂_n = v_n/(1 − β2ⁿ) (Eq. 20).
/// </para>
/// <para>
/// The map to the flow (docs/mathematics.md §4): β = e^{−c h} with c the part's rate, so β1ⁿ = e^{−c1 t_n} and the bias corrections
/// are the flow's 1 − e^{−c t}. As h → 0 this is a first-order scheme for the flow; with h = 1, t_off = 1 and
/// c = −log β it is exactly the classic optimizer with β and η_n = η0 n^{−a}.
/// </para>
/// <para>
/// Scaling: like the flow, nothing here underflows as L → 0. The oracle gives log L and ∇ log L = g/L; each moment
/// is held as e^{s} x̃ with a floating log-scale s (see <see cref="MomentumLogScale"/>), so m and v keep full
/// relative precision at any L. The normalized, sign and polar directions are scale-free and use x̃ directly.
/// Adam's ratio is scale-free except for ε: m̂/(√v̂ + ε) = e^{s_m − s_v/2} (m̃/b1)/(√(ṽ/b2) + ε e^{−s_v/2}), so ε
/// enters relative to the scale of √v, ε/L in effect (as ε e^{−σ} in the flow); the exponent is handled so that
/// nothing overflows when L ≪ ε. Then Adam with ε &gt; 0 genuinely stalls (its step tends to 0), while ε = 0, the
/// theory's, keeps the ratio of order one at any L. GD and MomentumGD use the raw g = e^{log L} ∇ log L and
/// m = e^{s} m̃, and genuinely stall as L → 0: that is the optimizer, not round-off.
/// </para>
/// <para>
/// Allocation: none per step after construction, except inside the exact polar factor (MathNet's SVD allocates
/// its factors on every call); the Newton–Schulz polar factor does not allocate.
/// </para>
/// </remarks>
public sealed class DiscreteOptimizer
{
    private readonly IGradientOracle _oracle;
    private readonly OptimizerPart[] _parts;
    private readonly Schedule[] _schedules;
    private readonly int[] _offset;
    private readonly int[] _length;
    private readonly ScaledMoment?[] _momentum;
    private readonly ScaledMoment?[] _secondMoment;
    private readonly double[] _theta;
    private readonly double[] _gradient;
    private readonly double[] _direction;
    private readonly double[] _lastSource;
    private readonly PolarScratch _polar;
    private readonly NewtonSchulz?[] _newtonSchulz;

    /// <summary>Creates the stepper at n = 0 and evaluates the oracle at θ_0.</summary>
    /// <param name="oracle">log L and ∇ log L of the model.</param>
    /// <param name="parts">The optimizer parts; together they must cover every parameter block once, in order.</param>
    /// <param name="power">Schedule power a of η(t) = η0 (t + t_off)^{−a}.</param>
    /// <param name="timeOffset">Schedule offset t_off (1 gives the classic η_n = η0 n^{−a} at h = 1).</param>
    /// <param name="theta0">θ_0.</param>
    /// <param name="stepSize">Time step h &gt; 0 (1: the classic discrete optimizer).</param>
    /// <param name="polar">Exact U Vᵀ or Newton–Schulz for the polar (Muon, SpectralGD) parts.</param>
    public DiscreteOptimizer(IGradientOracle oracle, IReadOnlyList<OptimizerPart> parts, double power, double timeOffset, ReadOnlySpan<double> theta0, double stepSize = 1.0, PolarMethod polar = PolarMethod.Exact)
    {
        ArgumentNullException.ThrowIfNull(oracle);
        ArgumentNullException.ThrowIfNull(parts);
        if (!(stepSize > 0) || !double.IsFinite(stepSize))
        {
            throw new ArgumentOutOfRangeException(nameof(stepSize), stepSize, "The time step h must be positive and finite.");
        }

        _oracle = oracle;
        _parts = parts.ToArray();
        Parameters = oracle.Layout;
        StepSize = stepSize;
        Polar = polar;
        if (theta0.Length != Parameters.Length)
        {
            throw new ArgumentException($"θ0 has {theta0.Length} values; the model has {Parameters.Length}.", nameof(theta0));
        }

        int expected = 0;
        foreach (OptimizerPart p in _parts)
        {
            if (p.FirstBlock != expected || p.BlockCount < 1)
            {
                throw new ArgumentException("Optimizer parts must cover the parameter blocks in order, each once.", nameof(parts));
            }

            if (!p.Definition.HasDiscreteForm)
            {
                throw new ArgumentException($"'{p.Name}' has no discrete form.", nameof(parts));
            }

            // c = 0 would mean β = 1: the average never takes in a gradient and m stays 0 (Eq. 19).
            if ((p.HasMomentum && !(p.C1 > 0 && double.IsFinite(p.C1))) || (p.HasSecondMoment && !(p.C2 > 0 && double.IsFinite(p.C2))))
            {
                throw new ArgumentException($"Part '{p.Name}' needs finite positive rates c (β = e^{{−c h}} < 1).", nameof(parts));
            }

            expected += p.BlockCount;
        }

        if (expected != Parameters.Blocks.Count)
        {
            throw new ArgumentException($"Optimizer parts cover {expected} of {Parameters.Blocks.Count} parameter blocks.", nameof(parts));
        }

        _schedules = _parts.Select(p => (Schedule)new PowerLawSchedule(p.Eta0, power, timeOffset)).ToArray();
        _offset = _parts.Select(p => p.Offset(Parameters)).ToArray();
        _length = _parts.Select(p => p.Length(Parameters)).ToArray();
        _momentum = new ScaledMoment?[_parts.Length];
        _secondMoment = new ScaledMoment?[_parts.Length];
        for (int i = 0; i < _parts.Length; i++)
        {
            OptimizerPart p = _parts[i];
            _momentum[i] = p.HasMomentum ? new ScaledMoment(_length[i], p.C1, stepSize, 1) : null;
            _secondMoment[i] = p.HasSecondMoment ? new ScaledMoment(_length[i], p.C2, stepSize, 2) : null;
        }

        _polar = new PolarScratch(Parameters);
        _newtonSchulz = Parameters.Blocks.Select(b => polar == PolarMethod.NewtonSchulz ? new NewtonSchulz(b.Rows, b.Cols) : null).ToArray();
        _theta = theta0.ToArray();
        _gradient = new double[Parameters.Length];
        _direction = new double[Parameters.Length];
        _lastSource = new double[Parameters.Length];
        LogLoss = _oracle.Evaluate(_theta, _gradient);
        GradientEvaluations = 1;
    }

    /// <summary>The parameter blocks of θ.</summary>
    public ParameterLayout Parameters { get; }

    /// <summary>The optimizer parts.</summary>
    public IReadOnlyList<OptimizerPart> Parts => _parts;

    /// <summary>The schedule η0ᵖ (t + t_off)^{−a} of each part.</summary>
    public IReadOnlyList<Schedule> Schedules => _schedules;

    /// <summary>The time step h.</summary>
    public double StepSize { get; }

    /// <summary>How polar factors are computed.</summary>
    public PolarMethod Polar { get; }

    /// <summary>n, the number of steps taken.</summary>
    public long StepNumber { get; private set; }

    /// <summary>t_n = n h, the flow time this iterate corresponds to.</summary>
    public double Time => StepNumber * StepSize;

    /// <summary>θ_n.</summary>
    public ReadOnlySpan<double> Theta => _theta;

    /// <summary>log L(θ_n).</summary>
    public double LogLoss { get; private set; }

    /// <summary>∇ log L(θ_n) = g/L (the gradient that step n + 1 will use).</summary>
    public ReadOnlySpan<double> RelativeGradient => _gradient;

    /// <summary>d_n, the direction of the last step: θ_n = θ_{n−1} − h η(t_{n−1}) d_n, part by part (0 before the first step).</summary>
    public ReadOnlySpan<double> LastDirection => _direction;

    /// <summary>h η(t_{n−1}) of part <paramref name="part"/> in the last step, the factor of its direction (0 before the first step).</summary>
    public double LastStepScale(int part) => StepNumber == 0 ? 0 : StepSize * _schedules[part].Eta((StepNumber - 1) * StepSize);

    /// <summary>Number of oracle evaluations so far (one per step, plus one at θ_0).</summary>
    public long GradientEvaluations { get; private set; }

    /// <summary>β1 = e^{−c1 h} of part <paramref name="part"/> (NaN when the part has no momentum).</summary>
    public double Beta1(int part) => _parts[part].HasMomentum ? Math.Exp(-_parts[part].C1 * StepSize) : double.NaN;

    /// <summary>β2 = e^{−c2 h} of part <paramref name="part"/> (NaN when the part has no second moment).</summary>
    public double Beta2(int part) => _parts[part].HasSecondMoment ? Math.Exp(-_parts[part].C2 * StepSize) : double.NaN;

    /// <summary>The log-scale s of part <paramref name="part"/>'s momentum: m_n = e^{s} · <see cref="MomentumMantissa"/> (−∞ while m = 0).</summary>
    public double MomentumLogScale(int part) => Moment(_momentum, part).LogScale;

    /// <summary>m̃ with m_n = e^{s} m̃ (see <see cref="MomentumLogScale"/>).</summary>
    public ReadOnlySpan<double> MomentumMantissa(int part) => Moment(_momentum, part).Mantissa;

    /// <summary>The log-scale of part <paramref name="part"/>'s second moment: v_n = e^{s} · <see cref="SecondMomentMantissa"/>.</summary>
    public double SecondMomentLogScale(int part) => Moment(_secondMoment, part).LogScale;

    /// <summary>ṽ with v_n = e^{s} ṽ (see <see cref="SecondMomentLogScale"/>).</summary>
    public ReadOnlySpan<double> SecondMomentMantissa(int part) => Moment(_secondMoment, part).Mantissa;

    /// <summary>
    /// destination ← m_n / L(θ_n), the flow's scaled momentum m̃ = m e^{−σ} at t_n (for comparing with a flow). The
    /// factor e^{s − log L} is clamped at e^{709}, reached only if m_n exceeded L(θ_n) by a factor beyond 1e308.
    /// </summary>
    public void CopyScaledMomentum(int part, Span<double> destination)
    {
        ScaledMoment m = Moment(_momentum, part);
        TensorPrimitives.Multiply(m.Mantissa, Factor(m.LogScale - LogLoss), destination);
    }

    /// <summary>destination ← v_n / L(θ_n)², the flow's scaled second moment ṽ = v e^{−2σ} at t_n.</summary>
    public void CopyScaledSecondMoment(int part, Span<double> destination)
    {
        ScaledMoment v = Moment(_secondMoment, part);
        TensorPrimitives.Multiply(v.Mantissa, Factor(v.LogScale - (2 * LogLoss)), destination);
    }

    /// <summary>
    /// Runs from the current state until log L ≤ <paramref name="targetLogLoss"/>, <paramref name="maxSteps"/> steps in
    /// all have been taken, or the state stops being finite.
    /// </summary>
    /// <param name="onStep">Called with the stepper at the start (n = 0 for a fresh stepper) and after every step.</param>
    /// <param name="maxSteps">Largest step number n to reach.</param>
    /// <param name="targetLogLoss">Stop once log L(θ_n) ≤ this.</param>
    public DiscreteStopReason RunUntil(long maxSteps, double targetLogLoss, Action<DiscreteOptimizer>? onStep = null)
    {
        onStep?.Invoke(this);
        while (true)
        {
            if (!double.IsFinite(LogLoss))
            {
                return DiscreteStopReason.NonFinite;
            }

            if (LogLoss <= targetLogLoss)
            {
                return DiscreteStopReason.TargetReached;
            }

            if (StepNumber >= maxSteps)
            {
                return DiscreteStopReason.MaxSteps;
            }

            Step();
            onStep?.Invoke(this);
        }
    }

    /// <summary>Creates a stepper at θ_0 and runs it (see <see cref="RunUntil"/>); the arguments are the constructor's.</summary>
    public static DiscreteRunResult Run(IGradientOracle oracle, IReadOnlyList<OptimizerPart> parts, double power, double timeOffset, ReadOnlySpan<double> theta0, double stepSize, long maxSteps, double targetLogLoss, Action<DiscreteOptimizer>? onStep = null, PolarMethod polar = PolarMethod.Exact)
    {
        var optimizer = new DiscreteOptimizer(oracle, parts, power, timeOffset, theta0, stepSize, polar);
        DiscreteStopReason reason = optimizer.RunUntil(maxSteps, targetLogLoss, onStep);
        return new DiscreteRunResult(optimizer, reason);
    }

    /// <summary>
    /// Step n + 1: moments from g = ∇L(θ_n) (Eq. 19, 20), θ ← θ − h η(t_n) d, then log L and ∇ log L at the new θ.
    /// </summary>
    public void Step()
    {
        double tPrevious = StepNumber * StepSize;
        long n = StepNumber + 1;
        double logLoss = LogLoss;
        for (int i = 0; i < _parts.Length; i++)
        {
            OptimizerPart p = _parts[i];
            int o = _offset[i], len = _length[i];
            ReadOnlySpan<double> g = ((ReadOnlySpan<double>)_gradient).Slice(o, len);
            Span<double> d = _direction.AsSpan(o, len);
            Span<double> source = _lastSource.AsSpan(o, len);
            double sourceLogScale = logLoss;
            if (p.HasMomentum)
            {
                ScaledMoment m = _momentum[i]!;
                m.Update(logLoss, g);
                m.Mantissa.CopyTo(source);
                sourceLogScale = m.LogScale;
            }
            else
            {
                g.CopyTo(source);
            }

            _secondMoment[i]?.Update(logLoss, g);

            Direction(i, n, source, sourceLogScale, d);

            // θ_n = θ_{n−1} − h η(t_{n−1}) d_n.
            double step = StepSize * _schedules[i].Eta(tPrevious);
            TensorPrimitives.MultiplyAdd(d, -step, _theta.AsSpan(o, len), _theta.AsSpan(o, len));
        }

        StepNumber = n;
        LogLoss = _oracle.Evaluate(_theta, _gradient);
        GradientEvaluations++;
    }

    /// <summary>
    /// ‖NS(S) − U Vᵀ‖_F / ‖U Vᵀ‖_F over all polar blocks, where S is the source (momentum or gradient) of the last
    /// step: how much the Newton–Schulz Muon update differs from the exact one at this step (0 when no part is polar
    /// or no step was taken). A diagnostic: allocates.
    /// </summary>
    public double LastPolarDifference()
    {
        double squaredDifference = 0, squaredExact = 0;
        for (int i = 0; i < _parts.Length; i++)
        {
            OptimizerPart p = _parts[i];
            if (p.Geometry != UpdateGeometry.Polar)
            {
                continue;
            }

            for (int b = p.FirstBlock; b < p.FirstBlock + p.BlockCount; b++)
            {
                ParameterBlock shape = Parameters.Blocks[b];
                ReadOnlySpan<double> s = ((ReadOnlySpan<double>)_lastSource).Slice(Parameters.Offset(b), shape.Length);
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

    private void Direction(int i, long n, ReadOnlySpan<double> source, double sourceLogScale, Span<double> d)
    {
        OptimizerPart p = _parts[i];
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
                    int start = Parameters.Offset(b) - _offset[i];
                    int len = Parameters.Blocks[b].Length;
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
                AdamDirection(i, n, d);
                break;
            case UpdateGeometry.Defined:
            {
                // The definition's own direction, on the moments as e^{s} x̃ (the flow's λ and x̃) at t_n = n h.
                ScaledMoment? m = _momentum[i], v = _secondMoment[i];
                ReadOnlySpan<double> g = ((ReadOnlySpan<double>)_gradient).Slice(_offset[i], _length[i]);
                var inputs = new DirectionInputs(p, n * StepSize, Discrete: true, LogLoss, g, m is null ? default : m.Mantissa, m?.LogScale ?? double.NaN, v is null ? default : v.Mantissa, v?.LogScale ?? double.NaN);
                p.Definition.Direction!.Write(inputs, d);
                break;
            }

            default:
                throw new InvalidOperationException($"Unknown geometry {p.Geometry}.");
        }
    }

    /// <summary>Eq. 20: d = m̂_n/(√v̂_n + ε), with the scales of m and v kept apart (see the class remarks).</summary>
    private void AdamDirection(int i, long n, Span<double> d)
    {
        OptimizerPart p = _parts[i];
        ScaledMoment m = _momentum[i]!, v = _secondMoment[i]!;

        // 1 − βⁿ = 1 − e^{−c n h} = −expm1(−c t_n): the flow's bias correction at t_n, accurate for small c t_n.
        double bias1 = -ScalarMath.ExpM1(-p.C1 * StepSize * n);
        double bias2 = -ScalarMath.ExpM1(-p.C2 * StepSize * n);
        // d = e^{s_m − s_v/2} (m̃/b1) / (√(ṽ/b2) + e^{λε}) with λε = log ε − s_v/2 (ε relative to the scale of √v).
        // When ε/√v is beyond e^{0}, numerator and denominator are both divided by e^{λε}, so no factor overflows
        // however far L is below ε; the step then underflows towards 0, as Adam's genuinely does.
        double halfScale = 0.5 * v.LogScale;
        double logEpsilon = p.Epsilon > 0 ? Math.Log(p.Epsilon) - halfScale : double.NegativeInfinity;
        double shift = Math.Max(0, logEpsilon);
        double scaledEpsilon = Math.Exp(logEpsilon - shift);
        double vFactor = Math.Exp(-2 * shift) / bias2;
        double outer = Factor(m.LogScale - halfScale - shift) / bias1;
        ReadOnlySpan<double> mt = m.Mantissa, vt = v.Mantissa;
        for (int k = 0; k < d.Length; k++)
        {
            double denominator = Math.Sqrt(vt[k] * vFactor) + scaledEpsilon;
            d[k] = denominator > 0 ? outer * mt[k] / denominator : 0;
        }
    }

    /// <summary>e^{x} with the exponent clamped so a factor is never ∞ (a clamped factor only multiplies what is negligible).</summary>
    private static double Factor(double logFactor) => Math.Exp(Math.Min(logFactor, 709));

    private static ScaledMoment Moment(ScaledMoment?[] moments, int part) =>
        moments[part] ?? throw new InvalidOperationException($"Part {part} carries no such moment.");
}
