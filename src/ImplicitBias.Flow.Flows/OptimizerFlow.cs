using System.Numerics.Tensors;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows;

/// <summary>Tolerances of a flow's state blocks.</summary>
/// <param name="RelTol">Relative tolerance of every block.</param>
/// <param name="AbsTol">Absolute tolerance of every block.</param>
/// <param name="BlockScale">
/// κ for the momentum and second-moment blocks: their atol is raised to κ · max |y_b|, so coordinates born
/// from zero (a ReLU² unit switching on) are judged against the block's scale, not their own.
/// </param>
public sealed record FlowTolerances(double RelTol = 1e-6, double AbsTol = 1e-9, double BlockScale = 1e-3);

/// <summary>
/// The coupled flow of θ, m and v of SPEC §2 (Eqs. 2–8) for one optimizer (or a per-block composite), as a
/// semilinear ODE term. The state is
/// <list type="bullet">
/// <item><c>theta</c>: θ;</item>
/// <item><c>logL</c>: σ, which tracks log L(θ) through dσ/dt = ⟨∇ log L, dθ/dt⟩ (exact chain rule);</item>
/// <item><c>m:part</c>: m̃ = m e^{−σ}, per part with momentum, with decay c1;</item>
/// <item><c>v:part</c>: ṽ = v e^{−2σ}, per Adam part, with decay c2.</item>
/// </list>
/// m and v fall like L and L² as the loss falls; m̃ and ṽ stay of order one, so they keep their relative
/// accuracy down to log L = −1000 and beyond. From dm/dt = c1 (g − m) with g = L ∇log L:
/// dm̃/dt = −c1 m̃ + c1 e^{ℓ−σ} ∇log L − σ′ m̃ and dṽ/dt = −c2 ṽ + c2 e^{2(ℓ−σ)} (∇log L)² − 2σ′ ṽ, where ℓ is
/// log L(θ) evaluated now (ℓ − σ is the integration error of σ, kept in the factor so m stays exact).
/// </summary>
public sealed class OptimizerFlow
{
    private readonly IGradientOracle _oracle;
    private readonly OptimizerPart[] _parts;
    private readonly int[] _partOffset;
    private readonly int[] _partLength;
    private readonly int[] _momentumBlock;
    private readonly int[] _secondMomentBlock;
    private readonly double[] _gradient;
    private readonly PolarScratch _polar;

    /// <summary>Creates the flow.</summary>
    /// <param name="oracle">log L and ∇ log L of the model.</param>
    /// <param name="parts">The optimizer parts; together they must cover every parameter block once, in order.</param>
    /// <param name="power">Schedule power a of η(t) = η0 (t + t_off)^{−a}.</param>
    /// <param name="timeOffset">Schedule offset t_off.</param>
    /// <param name="tolerances">Block tolerances.</param>
    public OptimizerFlow(IGradientOracle oracle, IReadOnlyList<OptimizerPart> parts, double power, double timeOffset = 1.0, FlowTolerances? tolerances = null)
    {
        ArgumentNullException.ThrowIfNull(oracle);
        ArgumentNullException.ThrowIfNull(parts);
        _oracle = oracle;
        _parts = parts.ToArray();
        Parameters = oracle.Layout;
        tolerances ??= new FlowTolerances();
        Tolerances = tolerances;
        Schedules = _parts.Select(p => (Schedule)new PowerLawSchedule(p.Eta0, power, timeOffset)).ToArray();

        int expected = 0;
        foreach (OptimizerPart p in _parts)
        {
            if (p.FirstBlock != expected || p.BlockCount < 1)
            {
                throw new ArgumentException("Optimizer parts must cover the parameter blocks in order, each once.", nameof(parts));
            }

            expected += p.BlockCount;
        }

        if (expected != Parameters.Blocks.Count)
        {
            throw new ArgumentException($"Optimizer parts cover {expected} of {Parameters.Blocks.Count} parameter blocks.", nameof(parts));
        }

        var blocks = new List<StateBlock>
        {
            new("theta", Parameters.Length, tolerances.RelTol, tolerances.AbsTol),
            new("logL", 1, tolerances.RelTol, tolerances.AbsTol),
        };
        _partOffset = new int[_parts.Length];
        _partLength = new int[_parts.Length];
        _momentumBlock = new int[_parts.Length];
        _secondMomentBlock = new int[_parts.Length];
        for (int i = 0; i < _parts.Length; i++)
        {
            OptimizerPart p = _parts[i];
            _partOffset[i] = p.Offset(Parameters);
            _partLength[i] = p.Length(Parameters);
            _momentumBlock[i] = _secondMomentBlock[i] = -1;
            if (p.HasMomentum)
            {
                _momentumBlock[i] = blocks.Count;
                blocks.Add(new StateBlock($"m:{p.Name}", _partLength[i], tolerances.RelTol, tolerances.AbsTol, tolerances.BlockScale, p.C1));
            }

            if (p.HasSecondMoment)
            {
                _secondMomentBlock[i] = blocks.Count;
                blocks.Add(new StateBlock($"v:{p.Name}", _partLength[i], tolerances.RelTol, tolerances.AbsTol, tolerances.BlockScale, p.C2));
            }
        }

        Layout = new StateLayout(blocks);
        _gradient = new double[Parameters.Length];
        _polar = new PolarScratch(Parameters);
    }

    /// <summary>The parameter blocks of θ.</summary>
    public ParameterLayout Parameters { get; }

    /// <summary>The block structure of the flow's state.</summary>
    public StateLayout Layout { get; }

    /// <summary>The optimizer parts.</summary>
    public IReadOnlyList<OptimizerPart> Parts => _parts;

    /// <summary>The schedule η0ᵖ (t + t_off)^{−a} of each part.</summary>
    public IReadOnlyList<Schedule> Schedules { get; }

    /// <summary>The tolerances the layout was built with.</summary>
    public FlowTolerances Tolerances { get; }

    /// <summary>Number of gradient evaluations so far.</summary>
    public long GradientEvaluations { get; private set; }

    /// <summary>log L(θ) at the last evaluation.</summary>
    public double LastLogLoss { get; private set; } = double.NaN;

    /// <summary>∇ log L at the last evaluation.</summary>
    public ReadOnlySpan<double> LastRelativeGradient => _gradient;

    /// <summary>Index of the θ block in <see cref="Layout"/>.</summary>
    public static int ThetaBlock => 0;

    /// <summary>Index of the σ = log L block in <see cref="Layout"/>.</summary>
    public static int LogLossBlock => 1;

    /// <summary>The layout block of part <paramref name="part"/>'s momentum m̃, or −1.</summary>
    public int MomentumBlock(int part) => _momentumBlock[part];

    /// <summary>The layout block of part <paramref name="part"/>'s second moment ṽ, or −1.</summary>
    public int SecondMomentBlock(int part) => _secondMomentBlock[part];

    /// <summary>The gradient oracle of the flow (for observers that need ∇ log L at a saved state).</summary>
    public IGradientOracle Oracle => _oracle;

    /// <summary>The offset of part <paramref name="part"/> inside θ.</summary>
    public int PartOffset(int part) => _partOffset[part];

    /// <summary>The number of parameters of part <paramref name="part"/>.</summary>
    public int PartLength(int part) => _partLength[part];

    /// <summary>θ inside a flat state.</summary>
    public ReadOnlySpan<double> Theta(ReadOnlySpan<double> y) => y[..Parameters.Length];

    /// <summary>σ ≈ log L inside a flat state.</summary>
    public double LogLoss(ReadOnlySpan<double> y) => y[Parameters.Length];

    /// <summary>The initial state: θ(0), σ(0) = log L(θ(0)), m = v = 0.</summary>
    public void InitialState(ReadOnlySpan<double> theta0, Span<double> y)
    {
        if (theta0.Length != Parameters.Length || y.Length != Layout.Length)
        {
            throw new ArgumentException($"θ0 has {theta0.Length} values and y {y.Length}; expected {Parameters.Length} and {Layout.Length}.");
        }

        y.Clear();
        theta0.CopyTo(y);
        y[Parameters.Length] = _oracle.Evaluate(theta0, _gradient);
        GradientEvaluations++;
    }

    /// <summary>
    /// The nonlinear part N(t, y) of the semilinear system (the decay −c y of the m̃ and ṽ blocks is in
    /// <see cref="Layout"/>). dθ/dt = −η(t) · direction; see the class remarks for the rest.
    /// </summary>
    public void Evaluate(double t, ReadOnlySpan<double> y, Span<double> dydt)
    {
        int n = Parameters.Length;
        ReadOnlySpan<double> theta = y[..n];
        double sigma = y[n];
        double logLoss = _oracle.Evaluate(theta, _gradient);
        GradientEvaluations++;
        LastLogLoss = logLoss;
        ReadOnlySpan<double> g = _gradient;
        Span<double> thetaDot = dydt[..n];

        for (int i = 0; i < _parts.Length; i++)
        {
            Direction(i, t, y, sigma, logLoss, thetaDot.Slice(_partOffset[i], _partLength[i]));
        }

        // dσ/dt = d log L(θ(t))/dt = ⟨∇ log L, dθ/dt⟩.
        double sigmaDot = TensorPrimitives.Dot(g, thetaDot);
        dydt[n] = sigmaDot;

        // The factor e^{ℓ−σ} is 1 up to the integration error of σ; clamp the exponent so a wild trial
        // stage yields a large finite value (rejected by the error test) rather than ∞·0 = NaN.
        double ratio = Math.Exp(Math.Clamp(logLoss - sigma, -700, 700));
        for (int i = 0; i < _parts.Length; i++)
        {
            OptimizerPart p = _parts[i];
            ReadOnlySpan<double> gp = g.Slice(_partOffset[i], _partLength[i]);
            if (p.HasMomentum)
            {
                int b = _momentumBlock[i];
                int o = Layout.Offset(b);
                ReadOnlySpan<double> m = y.Slice(o, _partLength[i]);
                Span<double> mDot = dydt.Slice(o, _partLength[i]);

                // N_m = c1 e^{ℓ−σ} ∇log L − σ′ m̃.
                TensorPrimitives.Multiply(gp, p.C1 * ratio, mDot);
                TensorPrimitives.MultiplyAdd(m, -sigmaDot, mDot, mDot);
            }

            if (p.HasSecondMoment)
            {
                int b = _secondMomentBlock[i];
                int o = Layout.Offset(b);
                ReadOnlySpan<double> v = y.Slice(o, _partLength[i]);
                Span<double> vDot = dydt.Slice(o, _partLength[i]);

                // N_v = c2 e^{2(ℓ−σ)} (∇log L)² − 2σ′ ṽ.
                TensorPrimitives.Multiply(gp, gp, vDot);
                TensorPrimitives.Multiply(vDot, p.C2 * ratio * ratio, vDot);
                TensorPrimitives.MultiplyAdd(v, -2 * sigmaDot, vDot, vDot);
            }
        }
    }

    private void Direction(int i, double t, ReadOnlySpan<double> y, double sigma, double logLoss, Span<double> thetaDot)
    {
        OptimizerPart p = _parts[i];
        ReadOnlySpan<double> g = ((ReadOnlySpan<double>)_gradient).Slice(_partOffset[i], _partLength[i]);
        double eta = Schedules[i].Eta(t);
        ReadOnlySpan<double> m = p.HasMomentum ? y.Slice(Layout.Offset(_momentumBlock[i]), _partLength[i]) : default;

        if (p.Geometry == UpdateGeometry.Raw)
        {
            // GD: −η g = −η e^{ℓ} ∇log L; MomentumGD: −η m = −η e^{σ} m̃ (0 at t = 0, no limit needed).
            bool fromGradient = p.Source == UpdateSource.Gradient;
            TensorPrimitives.Multiply(fromGradient ? g : m, -eta * Math.Exp(fromGradient ? logLoss : sigma), thetaDot);
            return;
        }

        // At t = 0, m = v = 0 and the normalized directions take their t → 0⁺ limits, computed from g(0) (SPEC §2).
        ReadOnlySpan<double> source = p.Source == UpdateSource.Gradient || t <= 0 || TensorPrimitives.MaxMagnitude(m) == 0 ? g : m;
        switch (p.Geometry)
        {
            case UpdateGeometry.L2:
                Directions.NormalizedL2(source, thetaDot);
                break;
            case UpdateGeometry.Sign:
                Directions.Sign(source, p.SignWidth, p.SignMode, thetaDot);
                break;
            case UpdateGeometry.Polar:
                for (int b = p.FirstBlock; b < p.FirstBlock + p.BlockCount; b++)
                {
                    int start = Parameters.Offset(b) - _partOffset[i];
                    int len = Parameters.Blocks[b].Length;
                    _polar.Compute(b, source.Slice(start, len), thetaDot.Slice(start, len));
                }

                break;
            case UpdateGeometry.AdamRatio:
                ReadOnlySpan<double> v = y.Slice(Layout.Offset(_secondMomentBlock[i]), _partLength[i]);
                double scaledEpsilon = p.Epsilon == 0 ? 0 : p.Epsilon * Math.Exp(Math.Min(-sigma, 700));
                Directions.AdamRatio(t, m, v, g, p.C1, p.C2, scaledEpsilon, thetaDot);
                break;
        }

        TensorPrimitives.Multiply(thetaDot, -eta, thetaDot);
    }
}
