using System.Numerics.Tensors;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Flows.Field;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Flows.Optimizers.Definitions;
using ImplicitBias.Flow.Models.Evaluation;
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
/// The coupled flow of θ, m and v of docs/mathematics.md §2 (Eqs. 2–8) for one optimizer (or a per-block composite), as a
/// semilinear ODE term. The state is
/// <list type="bullet">
/// <item><c>theta</c>: θ;</item>
/// <item><c>logL</c>: σ, which tracks log L(θ) through dσ/dt = ⟨∇ log L, dθ/dt⟩ (exact chain rule);</item>
/// <item><c>m:part</c>: m̃ = m e^{−λ_m}, per part with momentum, with decay c1;</item>
/// <item><c>v:part</c>: ṽ = v e^{−λ_v}, per Adam part, with decay c2;</item>
/// <item><c>logscale:m:part</c>, <c>logscale:v:part</c>: the log scales λ_m ≈ σ and λ_v ≈ 2σ (last in the layout).</item>
/// </list>
/// m and v fall like L and L² as the loss falls; m̃ and ṽ stay of order one, so they keep their relative
/// accuracy down to log L = −1000 and beyond. From dm/dt = c1 (g − m) with g = L ∇log L:
/// dm̃/dt = −c1 m̃ + c1 e^{ℓ−λ_m} ∇log L − λ_m′ m̃ and dṽ/dt = −c2 ṽ + c2 e^{2ℓ−λ_v} (∇log L)² − λ_v′ ṽ, where ℓ
/// is log L(θ) evaluated now.
/// <para>
/// The scale follows the loss, λ′ = kσ′ (k = 1 for m, 2 for v), while the moment can: a moment forgets at rate
/// c, so when the loss falls faster than that (kσ′ &lt; −c: large η0, fast margins), m ∝ e^{−c1 t} is left
/// carrying old gradients and m e^{−σ} would grow like e^{(|σ′|−c1) t} until it overflows. Then λ′ = −c, the
/// moment's own decay, keeps m̃ of order one, and once the loss slows λ returns to kσ at rate kσ′ + c:
/// λ′ = −c + (kσ′ + c)₊ · clamp(1 + (kσ − λ)/w, 0, 1) with w = 1. The right-hand side stays Lipschitz (no
/// switching), and while λ = kσ it is exactly the plain scaling m̃ = m e^{−σ}, ṽ = v e^{−2σ}.
/// </para>
/// </summary>
public sealed class OptimizerFlow : IJacobianModelTerm, ICoordinateScaleTerm
{
    private readonly IGradientOracle _oracle;
    private readonly OptimizerPart[] _parts;
    private readonly int[] _partOffset;
    private readonly int[] _partLength;
    private readonly int[] _momentumBlock;
    private readonly int[] _secondMomentBlock;
    private readonly int[] _momentumScaleBlock;
    private readonly int[] _secondMomentScaleBlock;
    private readonly double[] _gradient;
    private readonly HostFieldPrimitives _primitives;

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

        // Some flows need θ's absolute tolerance tighter than the solver's (OptimizerDefinition.ThetaAbsTolFactor).
        double thetaAbsTol = tolerances.AbsTol * _parts.Min(p => p.Definition.ThetaAbsTolFactor);
        var blocks = new List<StateBlock>
        {
            new("theta", Parameters.Length, tolerances.RelTol, thetaAbsTol),
            new("logL", 1, tolerances.RelTol, tolerances.AbsTol),
        };
        _partOffset = new int[_parts.Length];
        _partLength = new int[_parts.Length];
        _momentumBlock = new int[_parts.Length];
        _secondMomentBlock = new int[_parts.Length];
        _momentumScaleBlock = new int[_parts.Length];
        _secondMomentScaleBlock = new int[_parts.Length];
        for (int i = 0; i < _parts.Length; i++)
        {
            OptimizerPart p = _parts[i];
            _partOffset[i] = p.Offset(Parameters);
            _partLength[i] = p.Length(Parameters);
            _momentumBlock[i] = _secondMomentBlock[i] = _momentumScaleBlock[i] = _secondMomentScaleBlock[i] = -1;
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

        // The log scales come last, so the moment blocks keep their places whatever the parts.
        for (int i = 0; i < _parts.Length; i++)
        {
            if (_momentumBlock[i] >= 0)
            {
                _momentumScaleBlock[i] = blocks.Count;
                blocks.Add(new StateBlock($"logscale:m:{_parts[i].Name}", 1, tolerances.RelTol, tolerances.AbsTol));
            }

            if (_secondMomentBlock[i] >= 0)
            {
                _secondMomentScaleBlock[i] = blocks.Count;
                blocks.Add(new StateBlock($"logscale:v:{_parts[i].Name}", 1, tolerances.RelTol, tolerances.AbsTol));
            }
        }

        Layout = new StateLayout(blocks);
        _gradient = new double[Parameters.Length];
        _primitives = new HostFieldPrimitives(Parameters);
        Field = new OptimizerField(this);
    }

    /// <summary>The parameter blocks of θ.</summary>
    public ParameterLayout Parameters { get; }

    /// <summary>The block structure of the flow's state.</summary>
    public StateLayout Layout { get; }

    /// <summary>The optimizer parts.</summary>
    public IReadOnlyList<OptimizerPart> Parts => _parts;

    /// <summary>The schedule η0ᵖ (t + t_off)^{−a} of each part.</summary>
    public IReadOnlyList<Schedule> Schedules { get; }

    /// <summary>
    /// True when ∂N/∂t is known in closed form (<see cref="TimeDerivative"/>; <see cref="OptimizerField.HasTimeDerivative"/>):
    /// every flow but those with a user-defined direction, Adam with ε &gt; 0, or Adam beside other parts (Muon-Adam).
    /// </summary>
    public bool HasTimeDerivative => Field.HasTimeDerivative;

    /// <summary>
    /// The rank of the Gauss–Newton model of normalized GD's Jacobian that a Rosenbrock-W step puts in its W
    /// (<see cref="JacobianModel"/>; Solver:JacobianModelRank); 0 (the default): none. Only normalized GD on a model
    /// evaluated on the host (<see cref="ModelOracle"/>) has the model (<see cref="OffersJacobianModel"/>); set for another
    /// flow it is refused.
    /// </summary>
    public int JacobianModelRank
    {
        get => _jacobianModelRank;
        init
        {
            if (value < 0 || value > MaxJacobianModelRank)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, $"The Jacobian model's rank must lie in [0, {MaxJacobianModelRank}].");
            }

            if (value > 0 && !OffersJacobianModel)
            {
                throw new ArgumentException("Only normalized GD (ngd) on the cpu backend has a Jacobian model.", nameof(value));
            }

            _jacobianModelRank = value;
        }
    }

    private readonly int _jacobianModelRank;

    /// <summary>The largest <see cref="JacobianModelRank"/>.</summary>
    public const int MaxJacobianModelRank = 200;

    /// <summary>Whether this flow has a Jacobian model: normalized GD alone, evaluated on the host.</summary>
    public bool OffersJacobianModel => _parts.Length == 1 && ReferenceEquals(_parts[0].Definition, Ngd.Definition) && _oracle is ModelOracle;

    /// <summary>
    /// The most samples the Gauss–Newton model of normalized GD's Jacobian keeps (those of largest ω_i ‖∇f_i‖²,
    /// <see cref="GaussNewtonFactors"/>). 256 by default: 512 took 10 % fewer evaluations at rank 50 on NGD at Table 1, but
    /// the S² |θ| Gram matrix made the run 1.7× longer (STEPPERS.md, "A Gauss–Newton W for NGD").
    /// </summary>
    public int GaussNewtonSamples { get; init; } = DefaultGaussNewtonSamples;

    /// <summary>The default of <see cref="GaussNewtonSamples"/>.</summary>
    public const int DefaultGaussNewtonSamples = 256;

    /// <summary>How many times <see cref="JacobianModel"/> built the model (one forward pass of the model each, no gradient).</summary>
    public int JacobianModelBuilds { get; private set; }

    private GaussNewtonFactors? _gaussNewton;
    private double[][] _factors = [];
    private double[] _direction = [];

    /// <summary>
    /// Normalized GD's Jacobian model at (t, y), n = N(t, y): W_model = −a P Σ_k F_k F_kᵀ on θ, where F_k are the leading
    /// Gauss–Newton factors of ∇² log L (<see cref="GaussNewtonFactors"/>, with P = I − ĝĝᵀ projected out), ĝ = −n_θ/‖n_θ‖
    /// the direction of motion, a = η/‖∇ log L‖, η = ‖n_θ‖ and ‖∇ log L‖ = −n_σ/η (σ′ = ⟨∇ log L, θ′⟩ = −η ‖∇ log L‖): so the
    /// model needs no gradient, only the margins (one forward pass). The curvature term Σ_i (ℓ'(z_i)/L) y_i ∇²f_i is left
    /// to the paid Krylov vectors (Flows/STEPPERS.md, "What NGD's stiff spectrum is made of").
    /// </summary>
    public int JacobianModel(double t, ReadOnlySpan<double> y, ReadOnlySpan<double> n, double[][] range, double[][] coRange)
    {
        ArgumentNullException.ThrowIfNull(range);
        ArgumentNullException.ThrowIfNull(coRange);
        if (JacobianModelRank == 0 || range.Length == 0 || GaussNewtonSamples < 1)
        {
            return 0;
        }

        int p = Parameters.Length;
        ReadOnlySpan<double> motion = n[..p];
        double eta = Math.Sqrt(TensorPrimitives.Dot(motion, motion));
        double gradientNorm = -n[p] / eta;
        if (!(eta > 0) || !(gradientNorm > 0) || !double.IsFinite(eta) || !double.IsFinite(gradientNorm))
        {
            return 0;
        }

        if (_gaussNewton is null)
        {
            _gaussNewton = new GaussNewtonFactors(((ModelOracle)_oracle).Evaluator, GaussNewtonSamples);
            _direction = new double[p];
        }

        if (_factors.Length != range.Length)
        {
            _factors = Enumerable.Range(0, range.Length).Select(_ => new double[p]).ToArray();
        }

        TensorPrimitives.Multiply(motion, -1.0 / eta, _direction);
        int rank = _gaussNewton.Compute(y[..p], _direction, _factors);
        JacobianModelBuilds++;
        double a = eta / gradientNorm;
        for (int k = 0; k < rank; k++)
        {
            double[] f = _factors[k];
            Array.Clear(range[k]);
            Array.Clear(coRange[k]);
            f.CopyTo(coRange[k], 0);
            double along = TensorPrimitives.Dot<double>(f, _direction);
            Span<double> u = range[k].AsSpan(0, p);
            TensorPrimitives.Multiply(f, -a, u); // u = −a P F_k = −a (F_k − (ĝ·F_k) ĝ)
            TensorPrimitives.MultiplyAdd(_direction, a * along, u, u);
        }

        return rank;
    }

    /// <summary>dndt ← ∂N/∂t at (t, y) given n = N(t, y), with no gradient evaluation (<see cref="OptimizerField.TimeDerivative"/>).</summary>
    public void TimeDerivative(double t, ReadOnlySpan<double> y, ReadOnlySpan<double> n, Span<double> dndt) =>
        Field.TimeDerivative<ReadOnlySpan<double>, Span<double>, HostFieldPrimitives>(_primitives, t, y, n, dndt);

    /// <summary>The tolerances the layout was built with.</summary>
    public FlowTolerances Tolerances { get; }

    /// <summary>Number of gradient evaluations so far.</summary>
    public long GradientEvaluations { get; private set; }

    /// <summary>log L(θ) at the last evaluation.</summary>
    public double LastLogLoss { get; private set; } = double.NaN;

    /// <summary>The drift of σ from log L(θ) in the current (or last) solve and its re-anchoring (see <see cref="LogLossAnchor{TState}"/>).</summary>
    public LogLossDrift Drift { get; internal set; } = new();

    /// <summary>
    /// log L(θ) of a flat state computed by the model (one gradient evaluation, counted; <see cref="LastLogLoss"/> and
    /// <see cref="LastRelativeGradient"/> are updated).
    /// </summary>
    public double EvaluateLogLoss(ReadOnlySpan<double> y)
    {
        double logLoss = _oracle.Evaluate(y[..Parameters.Length], _gradient);
        GradientEvaluations++;
        LastLogLoss = logLoss;
        return logLoss;
    }

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

    /// <summary>The layout block of λ_m, the log scale of part <paramref name="part"/>'s momentum (m = m̃ e^{λ_m}), or −1.</summary>
    public int MomentumScaleBlock(int part) => _momentumScaleBlock[part];

    /// <summary>The layout block of λ_v, the log scale of part <paramref name="part"/>'s second moment (v = ṽ e^{λ_v}), or −1.</summary>
    public int SecondMomentScaleBlock(int part) => _secondMomentScaleBlock[part];

    /// <summary>λ_m of part <paramref name="part"/> in state <paramref name="y"/>: m = m̃ e^{λ_m}.</summary>
    public double MomentumLogScale(int part, ReadOnlySpan<double> y) => y[Layout.Offset(_momentumScaleBlock[part])];

    /// <summary>λ_v of part <paramref name="part"/> in state <paramref name="y"/>: v = ṽ e^{λ_v}.</summary>
    public double SecondMomentLogScale(int part, ReadOnlySpan<double> y) => y[Layout.Offset(_secondMomentScaleBlock[part])];

    /// <summary>True when a part has both moments (Adam): its m̃ and ṽ coordinates have sizes of their own (<see cref="CoordinateScales"/>).</summary>
    public bool HasCoordinateScales => _parts.Any(p => p.HasMomentum && p.HasSecondMoment);

    /// <summary>
    /// For the m̃ coordinates of a part with both moments (Adam), r_i = (b1/√b2) √ṽ_i e^{λ_v/2 − λ_m} with
    /// b_k = 1 − e^{−c_k t}: the m̃_i at which m̂_i/√v̂_i = 1, and for its ṽ coordinates ṽ_i itself, where ṽ_i &gt; 0; NaN
    /// elsewhere. θ_i′ = −η m̂_i/√v̂_i couples θ_i to m̃_i with the weight 1/√ṽ_i, so m̃_i matters against r_i, not against its block's largest value: late in a run
    /// the weights of an input that is almost always zero keep ṽ_i 10⁹⁰ below the block (v decays like e^{−c2 t}), and
    /// weighed by the block the coupling is an entry of 10³⁵ of the weighted Jacobian; ṽ_i enters through 1/√ṽ_i, so it
    /// matters relative to itself. The Jacobian diagnostics and the Krylov W weigh the moments so (Flows/STEPPERS.md,
    /// "The Jacobian's eigenvalues late in Adam runs", "Adam's m̃ weighed against √ṽ in W").
    /// </summary>
    public void CoordinateScales(double t, ReadOnlySpan<double> y, Span<double> scales)
    {
        scales.Fill(double.NaN);
        for (int p = 0; p < _parts.Length; p++)
        {
            int mb = _momentumBlock[p], vb = _secondMomentBlock[p];
            if (mb < 0 || vb < 0)
            {
                continue;
            }

            OptimizerPart part = _parts[p];
            double b1 = -double.ExpM1(-part.C1 * t), b2 = -double.ExpM1(-part.C2 * t);
            double factor = b1 / Math.Sqrt(b2) * Math.Exp((SecondMomentLogScale(p, y) / 2) - MomentumLogScale(p, y));
            int mo = Layout.Offset(mb), vo = Layout.Offset(vb);
            for (int i = 0; i < _partLength[p]; i++)
            {
                double r = factor * Math.Sqrt(y[vo + i]);
                scales[mo + i] = r > 0 && double.IsFinite(r) ? r : double.NaN;
                scales[vo + i] = y[vo + i] > 0 ? y[vo + i] : double.NaN;
            }
        }
    }

    /// <summary>Writes λ_m = σ and λ_v = 2σ for every part: the plain scaling, for states built from unscaled moments.</summary>
    public void SetPlainScales(Span<double> y)
    {
        double sigma = y[Parameters.Length];
        for (int i = 0; i < _parts.Length; i++)
        {
            if (_momentumScaleBlock[i] >= 0)
            {
                y[Layout.Offset(_momentumScaleBlock[i])] = sigma;
            }

            if (_secondMomentScaleBlock[i] >= 0)
            {
                y[Layout.Offset(_secondMomentScaleBlock[i])] = 2 * sigma;
            }
        }
    }

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

    /// <summary>The initial state: θ(0), σ(0) = log L(θ(0)), m = v = 0, λ_m = σ(0), λ_v = 2σ(0).</summary>
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
        SetPlainScales(y);
    }

    /// <summary>λ′ of a moment's log scale (see the class remarks and <see cref="OptimizerField.LogScaleRate"/>).</summary>
    /// <param name="scaledSigma">kσ (σ for m, 2σ for v).</param>
    /// <param name="scaledSigmaDot">kσ′.</param>
    /// <param name="logScale">λ.</param>
    /// <param name="decay">c (c1 for m, c2 for v).</param>
    public static double LogScaleRate(double scaledSigma, double scaledSigmaDot, double logScale, double decay) =>
        OptimizerField.LogScaleRate(scaledSigma, scaledSigmaDot, logScale, decay);

    /// <summary>The vector field, written once over the backends' primitives; the device flow evaluates it too.</summary>
    public OptimizerField Field { get; }

    /// <summary>
    /// The nonlinear part N(t, y) of the semilinear system (the decay −c y of the m̃ and ṽ blocks is in
    /// <see cref="Layout"/>): log L and ∇ log L from the oracle, then <see cref="OptimizerField.Evaluate"/> on host spans.
    /// </summary>
    public void Evaluate(double t, ReadOnlySpan<double> y, Span<double> dydt)
    {
        int n = Parameters.Length;
        double logLoss = _oracle.Evaluate(y[..n], _gradient);
        GradientEvaluations++;
        LastLogLoss = logLoss;
        Field.Evaluate<ReadOnlySpan<double>, Span<double>, HostFieldPrimitives>(_primitives, t, y, dydt, logLoss, _gradient);
    }
}
