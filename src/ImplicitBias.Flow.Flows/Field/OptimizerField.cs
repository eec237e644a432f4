using ImplicitBias.Flow.Core.Numerics;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Field;

/// <summary>
/// The vector field of an <see cref="OptimizerFlow"/> (docs/mathematics.md §2, Eqs. 2–8, in the flow's scaled variables:
/// θ, σ, m̃ = m e^{−λ_m}, ṽ = v e^{−λ_v} and the log scales λ; see <see cref="OptimizerFlow"/>'s remarks), written once
/// over <see cref="IFieldPrimitives{TIn, TOut}"/>. <see cref="OptimizerFlow"/> evaluates it on host spans and the ILGPU
/// flow on device views; each evaluates ℓ = log L(θ) and ∇ log L on its own backend and hands them in. Per part: the
/// direction of its geometry (<see cref="FieldDirections"/>), then σ′ = ⟨∇ log L, dθ/dt⟩, then the moments' sources and
/// their log scales' rates.
/// </summary>
public sealed class OptimizerField
{
    private readonly ParameterLayout _parameters;
    private readonly OptimizerPart[] _parts;
    private readonly Schedule[] _schedules;
    private readonly int[] _partOffset;
    private readonly int[] _partLength;
    private readonly int[] _momentumOffset; // state offsets, −1 where the part has no such block (read instead of
                                            // HasMomentum, whose Enum.HasFlag boxes in unoptimized code)
    private readonly int[] _secondMomentOffset;
    private readonly int[] _momentumScaleOffset;
    private readonly int[] _secondMomentScaleOffset;

    /// <summary>The field of <paramref name="flow"/>: its parts, schedules and layout.</summary>
    public OptimizerField(OptimizerFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        _parameters = flow.Parameters;
        _parts = flow.Parts.ToArray();
        _schedules = flow.Schedules.ToArray();
        StateLayout layout = flow.Layout;
        int count = _parts.Length;
        _partOffset = new int[count];
        _partLength = new int[count];
        _momentumOffset = new int[count];
        _secondMomentOffset = new int[count];
        _momentumScaleOffset = new int[count];
        _secondMomentScaleOffset = new int[count];
        for (int i = 0; i < count; i++)
        {
            _partOffset[i] = flow.PartOffset(i);
            _partLength[i] = flow.PartLength(i);
            _momentumOffset[i] = OffsetOf(layout, flow.MomentumBlock(i));
            _secondMomentOffset[i] = OffsetOf(layout, flow.SecondMomentBlock(i));
            _momentumScaleOffset[i] = OffsetOf(layout, flow.MomentumScaleBlock(i));
            _secondMomentScaleOffset[i] = OffsetOf(layout, flow.SecondMomentScaleBlock(i));
        }

        // One common time factor a(t) for all parts: η(t) (all parts share the schedule's shape), times Adam's bias
        // corrections √b2/b1 when ε = 0 and every part is the same Adam. ε > 0 makes Adam's t-dependence elementwise, and
        // a user-defined direction may read t: those flows take ∂N/∂t by a difference instead.
        bool adam = _parts.Any(p => p.Geometry == UpdateGeometry.AdamRatio);
        HasTimeDerivative = _parts.All(p => p.Geometry != UpdateGeometry.Defined)
            && (!adam || _parts.All(p => p.Geometry == UpdateGeometry.AdamRatio && p.Epsilon == 0 && p.C1 == _parts[0].C1 && p.C2 == _parts[0].C2));
    }

    /// <summary>
    /// True when <see cref="TimeDerivative"/> gives ∂N/∂t in closed form: every part's direction is a(t) F(y) with one
    /// scalar a(t) for all parts (η(t), and for Adam with ε = 0 its bias corrections), and no part has a user-defined
    /// direction.
    /// </summary>
    public bool HasTimeDerivative { get; }

    /// <summary>
    /// a′(t)/a(t) of the directions' common time factor: η′/η, plus for Adam (m̂/√v̂ = (√b2/b1) m/√v with
    /// b_k = 1 − e^{−c_k t}, docs/mathematics.md §2) b2′/(2 b2) − b1′/b1, where b_k′/b_k = c_k/(e^{c_k t} − 1).
    /// At t ≤ 0 Adam's direction is its t → 0⁺ limit sign(g(0)), which does not depend on t.
    /// </summary>
    public double DirectionRelativeRate(double t)
    {
        double rate = _schedules[0].RelativeRate(t);
        OptimizerPart p = _parts[0];
        if (p.Geometry == UpdateGeometry.AdamRatio && t > 0)
        {
            rate += (0.5 * p.C2 / ScalarMath.ExpM1(p.C2 * t)) - (p.C1 / ScalarMath.ExpM1(p.C1 * t));
        }

        return rate;
    }

    /// <summary>
    /// dndt ← ∂N/∂t at (t, y), given n = N(t, y) (<see cref="HasTimeDerivative"/> must hold), with no gradient: the
    /// gradient does not depend on t, so with r = a′/a (<see cref="DirectionRelativeRate"/>) ∂θ′/∂t = r θ′ and
    /// ∂σ′/∂t = r σ′ (σ′ = ⟨∇ log L, θ′⟩); a log scale's rate λ′ = −c + max(kσ′ + c, 0) w depends on t through σ′ alone,
    /// ∂λ′/∂t = k w r σ′ where kσ′ + c &gt; 0 (<see cref="LogScaleRate"/>), and a moment's N = c e^{kℓ−λ} s(∇ log L) − λ′ m̃
    /// through λ′ alone, ∂N/∂t = −(∂λ′/∂t) m̃. It is the time column of a Rosenbrock-W step.
    /// </summary>
    public void TimeDerivative<TIn, TOut, TPrimitives>(TPrimitives primitives, double t, TIn y, TIn n, TOut dndt)
        where TPrimitives : IFieldPrimitives<TIn, TOut>
        where TIn : struct, allows ref struct
        where TOut : struct, allows ref struct
    {
        if (!HasTimeDerivative)
        {
            throw new InvalidOperationException("This flow's ∂N/∂t has no closed form here (a user-defined direction, or Adam with ε > 0 or with other parts).");
        }

        int length = _parameters.Length;
        double rate = DirectionRelativeRate(t);
        primitives.Map(primitives.Slice(n, 0, length), primitives.SliceOut(dndt, 0, length), new ScaleOperator(rate, 1.0));
        double sigma = primitives.Read(y, length);
        double sigmaDot = primitives.Read(n, length);
        double sigmaDotRate = rate * sigmaDot;
        primitives.Write(dndt, length, sigmaDotRate);
        for (int i = 0; i < _parts.Length; i++)
        {
            OptimizerPart p = _parts[i];
            MomentTimeDerivative(primitives, y, dndt, _momentumOffset[i], _momentumScaleOffset[i], _partLength[i], 1, sigma, sigmaDot, sigmaDotRate, p.C1);
            MomentTimeDerivative(primitives, y, dndt, _secondMomentOffset[i], _secondMomentScaleOffset[i], _partLength[i], 2, sigma, sigmaDot, sigmaDotRate, p.C2);
        }
    }

    /// <summary>One moment's part of <see cref="TimeDerivative"/> (k = 1 for m, 2 for v); nothing when the part has no such moment.</summary>
    private static void MomentTimeDerivative<TIn, TOut, TPrimitives>(TPrimitives primitives, TIn y, TOut dndt, int offset, int scaleOffset, int length, int k, double sigma, double sigmaDot, double sigmaDotRate, double decay)
        where TPrimitives : IFieldPrimitives<TIn, TOut>
        where TIn : struct, allows ref struct
        where TOut : struct, allows ref struct
    {
        if (offset < 0)
        {
            return;
        }

        double lambdaDotRate = LogScaleRateTimeDerivative(k * sigma, k * sigmaDot, primitives.Read(y, scaleOffset), decay, k * sigmaDotRate);
        primitives.Write(dndt, scaleOffset, lambdaDotRate);
        primitives.Map(primitives.Slice(y, offset, length), primitives.SliceOut(dndt, offset, length), new ScaleOperator(-lambdaDotRate, 1.0));
    }

    /// <summary>
    /// λ′ of a moment's log scale (see <see cref="OptimizerFlow"/>'s remarks): kσ′ while λ ≤ kσ and kσ′ ≥ −c; the
    /// moment's own decay −c while the loss falls faster; in between a linear blend over w = 1 so the field stays
    /// Lipschitz.
    /// </summary>
    /// <param name="scaledSigma">kσ (σ for m, 2σ for v).</param>
    /// <param name="scaledSigmaDot">kσ′.</param>
    /// <param name="logScale">λ.</param>
    /// <param name="decay">c (c1 for m, c2 for v).</param>
    public static double LogScaleRate(double scaledSigma, double scaledSigmaDot, double logScale, double decay) =>
        -decay + (Math.Max(scaledSigmaDot + decay, 0) * LogScaleWeight(scaledSigma, logScale));

    /// <summary>
    /// ∂λ′/∂t of <see cref="LogScaleRate"/> when kσ′ moves at the rate <paramref name="scaledSigmaDotRate"/> = ∂(kσ′)/∂t
    /// and nothing else in it depends on t: w ∂(kσ′)/∂t where kσ′ + c &gt; 0, else 0.
    /// </summary>
    public static double LogScaleRateTimeDerivative(double scaledSigma, double scaledSigmaDot, double logScale, double decay, double scaledSigmaDotRate) =>
        scaledSigmaDot + decay > 0 ? LogScaleWeight(scaledSigma, logScale) * scaledSigmaDotRate : 0.0;

    /// <summary>The blend weight w = clamp(1 + kσ − λ, 0, 1) of <see cref="LogScaleRate"/>.</summary>
    private static double LogScaleWeight(double scaledSigma, double logScale) => Math.Clamp(1 + (scaledSigma - logScale), 0, 1);

    /// <summary>
    /// dydt ← N(t, y), the nonlinear part of the semilinear system (the decay −c y of the m̃ and ṽ blocks is in the
    /// layout), given ℓ = log L(θ) and ∇ log L evaluated at y's θ. dθ/dt = −η(t) · direction.
    /// </summary>
    public void Evaluate<TIn, TOut, TPrimitives>(TPrimitives primitives, double t, TIn y, TOut dydt, double logLoss, TIn gradient)
        where TPrimitives : IFieldPrimitives<TIn, TOut>
        where TIn : struct, allows ref struct
        where TOut : struct, allows ref struct
    {
        int n = _parameters.Length;
        double sigma = primitives.Read(y, n);
        TOut thetaDot = primitives.SliceOut(dydt, 0, n);
        for (int i = 0; i < _parts.Length; i++)
        {
            Direction(primitives, i, t, y, logLoss, gradient, primitives.SliceOut(thetaDot, _partOffset[i], _partLength[i]));
        }

        // dσ/dt = d log L(θ(t))/dt = ⟨∇ log L, dθ/dt⟩.
        double sigmaDot = primitives.Dot(gradient, primitives.AsInput(thetaDot));
        primitives.Write(dydt, n, sigmaDot);

        for (int i = 0; i < _parts.Length; i++)
        {
            OptimizerPart p = _parts[i];
            int length = _partLength[i];
            TIn gp = primitives.Slice(gradient, _partOffset[i], length);
            if (_momentumOffset[i] >= 0)
            {
                int o = _momentumOffset[i], so = _momentumScaleOffset[i];
                double lambda = primitives.Read(y, so);
                double lambdaDot = LogScaleRate(sigma, sigmaDot, lambda, p.C1);
                primitives.Write(dydt, so, lambdaDot);

                // N_m = c1 e^{ℓ−λ} ∇log L − λ′ m̃. The exponent is clamped so that a wild trial stage yields a
                // large finite value (rejected by the error test) rather than ∞·0 = NaN.
                double gain = p.C1 * Math.Exp(Math.Clamp(logLoss - lambda, -700, 700));
                primitives.Map(gp, primitives.Slice(y, o, length), primitives.SliceOut(dydt, o, length), new MomentumSourceOperator(gain, -lambdaDot));
            }

            if (_secondMomentOffset[i] >= 0)
            {
                int o = _secondMomentOffset[i], so = _secondMomentScaleOffset[i];
                double lambda = primitives.Read(y, so);
                double lambdaDot = LogScaleRate(2 * sigma, 2 * sigmaDot, lambda, p.C2);
                primitives.Write(dydt, so, lambdaDot);

                // N_v = c2 e^{2ℓ−λ} (∇log L)² − λ′ ṽ.
                double gain = p.C2 * Math.Exp(Math.Clamp((2 * logLoss) - lambda, -700, 700));
                primitives.Map(gp, primitives.Slice(y, o, length), primitives.SliceOut(dydt, o, length), new SecondMomentSourceOperator(gain, -lambdaDot));
            }
        }
    }

    /// <summary>thetaDot ← −η(t) · direction of part i.</summary>
    private void Direction<TIn, TOut, TPrimitives>(TPrimitives primitives, int i, double t, TIn y, double logLoss, TIn gradient, TOut thetaDot)
        where TPrimitives : IFieldPrimitives<TIn, TOut>
        where TIn : struct, allows ref struct
        where TOut : struct, allows ref struct
    {
        OptimizerPart p = _parts[i];
        int length = _partLength[i];
        TIn g = primitives.Slice(gradient, _partOffset[i], length);
        double eta = _schedules[i].Eta(t);
        TIn m = _momentumOffset[i] >= 0 ? primitives.Slice(y, _momentumOffset[i], length) : default;

        if (p.Geometry == UpdateGeometry.Defined)
        {
            // The definition's own direction, on the same scaled moments the discrete optimizer holds.
            TIn v2 = _secondMomentOffset[i] >= 0 ? primitives.Slice(y, _secondMomentOffset[i], length) : default;
            double lambdaM = _momentumOffset[i] >= 0 ? primitives.Read(y, _momentumScaleOffset[i]) : double.NaN;
            double lambdaV = _secondMomentOffset[i] >= 0 ? primitives.Read(y, _secondMomentScaleOffset[i]) : double.NaN;
            primitives.DefinedDirection(p, t, logLoss, g, m, lambdaM, v2, lambdaV, thetaDot);
            primitives.Map(primitives.AsInput(thetaDot), thetaDot, new ScaleOperator(-eta, 1.0));
            return;
        }

        if (p.Geometry == UpdateGeometry.Raw)
        {
            // GD: −η g = −η e^{ℓ} ∇log L; MomentumGD: −η m = −η e^{λ_m} m̃ (0 at t = 0, no limit needed).
            bool fromGradient = p.Source == UpdateSource.Gradient;
            double logScale = fromGradient ? logLoss : primitives.Read(y, _momentumScaleOffset[i]);
            primitives.Map(fromGradient ? g : m, thetaDot, new ScaleOperator(-eta * Math.Exp(logScale), 1.0));
            return;
        }

        if (p.Geometry == UpdateGeometry.AdamRatio)
        {
            // m/(√v + ε) = e^{λ_m − λ_v/2} m̃/(√ṽ + ε e^{−λ_v/2}); the factor is 1 while both scales follow σ. At t = 0
            // (m = v = 0) the t → 0⁺ limit sign(g(0)) (docs/mathematics.md §2).
            TIn v = primitives.Slice(y, _secondMomentOffset[i], length);
            double lambdaM = primitives.Read(y, _momentumScaleOffset[i]), lambdaV = primitives.Read(y, _secondMomentScaleOffset[i]);
            double scaledEpsilon = p.Epsilon == 0 ? 0 : p.Epsilon * Math.Exp(Math.Min(-lambdaV / 2, 700));
            if (t > 0)
            {
                eta *= Math.Exp(Math.Clamp(lambdaM - (lambdaV / 2), -700, 700));
            }

            FieldDirections.AdamRatio<TIn, TOut, TPrimitives>(primitives, t, m, v, g, p.C1, p.C2, scaledEpsilon, thetaDot, -eta);
            return;
        }

        // At t = 0, m = v = 0 and the normalized directions take their t → 0⁺ limits, computed from g(0) (docs/mathematics.md §2).
        TIn source = p.Source == UpdateSource.Gradient || t <= 0 || primitives.MaxAbs(m) == 0 ? g : m;
        switch (p.Geometry)
        {
            case UpdateGeometry.L2:
                FieldDirections.NormalizedL2<TIn, TOut, TPrimitives>(primitives, source, thetaDot, -eta);
                break;
            case UpdateGeometry.Sign:
                FieldDirections.Sign<TIn, TOut, TPrimitives>(primitives, source, p.SignWidth, p.SignMode, thetaDot, -eta);
                break;
            case UpdateGeometry.Polar:
                for (int b = p.FirstBlock; b < p.FirstBlock + p.BlockCount; b++)
                {
                    int start = _parameters.Offset(b) - _partOffset[i];
                    ParameterBlock block = _parameters.Blocks[b];
                    FieldDirections.Polar<TIn, TOut, TPrimitives>(primitives, b, block.Rows, block.Cols, primitives.Slice(source, start, block.Length), primitives.SliceOut(thetaDot, start, block.Length), -eta);
                }

                break;
            default:
                throw new InvalidOperationException($"Unknown update geometry {p.Geometry}.");
        }
    }

    private static int OffsetOf(StateLayout layout, int block) => block < 0 ? -1 : layout.Offset(block);
}
