using System.Numerics.Tensors;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Flows.Schedules;
using ImplicitBias.Flow.Solvers;

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
/// <see cref="OptimizerPart"/>s as <see cref="OptimizerFlow"/>, as an object that holds its iterate: θ_n, log L(θ_n)
/// and the moments, in the flow's state (<see cref="State"/>). The step is <see cref="DiscreteFlowMap"/>'s (see its
/// remarks for the scheme and its scaling); <see cref="RunUntil"/> runs it with the engine's loop
/// (<see cref="DiscreteSolver"/>).
/// </summary>
public sealed class DiscreteOptimizer
{
    private readonly DiscreteFlowMap _map;
    private HostState _y;
    private HostState _evaluation;
    private HostState _yNext;
    private HostState _nextEvaluation;

    /// <summary>Creates the stepper at n = 0 and evaluates the oracle at θ_0.</summary>
    /// <param name="oracle">log L and ∇ log L of the model.</param>
    /// <param name="parts">The optimizer parts; together they must cover every parameter block once, in order.</param>
    /// <param name="power">Schedule power a of η(t) = η0 (t + t_off)^{−a}.</param>
    /// <param name="timeOffset">Schedule offset t_off (1 gives the classic η_n = η0 n^{−a} at h = 1).</param>
    /// <param name="theta0">θ_0.</param>
    /// <param name="stepSize">Time step h &gt; 0 (1: the classic discrete optimizer).</param>
    /// <param name="polar">Exact U Vᵀ or Newton–Schulz for the polar (Muon, SpectralGD) parts.</param>
    public DiscreteOptimizer(IGradientOracle oracle, IReadOnlyList<OptimizerPart> parts, double power, double timeOffset, ReadOnlySpan<double> theta0, double stepSize = 1.0, PolarMethod polar = PolarMethod.Exact)
        : this(new DiscreteFlowMap(new OptimizerFlow(oracle, parts, power, timeOffset), stepSize, polar), theta0)
    {
    }

    /// <summary>Creates the stepper of <paramref name="map"/> at n = 0 and evaluates the oracle at θ_0.</summary>
    public DiscreteOptimizer(DiscreteFlowMap map, ReadOnlySpan<double> theta0)
    {
        ArgumentNullException.ThrowIfNull(map);
        _map = map;
        int length = map.Flow.Layout.Length;
        _y = new HostState(length);
        _evaluation = new HostState(length);
        _yNext = new HostState(length);
        _nextEvaluation = new HostState(length);
        if (theta0.Length != Parameters.Length)
        {
            throw new ArgumentException($"θ0 has {theta0.Length} values; the model has {Parameters.Length}.", nameof(theta0));
        }

        map.InitialState(theta0, _y.Values);
        map.Evaluate(0, _y, _evaluation);
    }

    /// <summary>The flow whose state the optimizer steps.</summary>
    public OptimizerFlow Flow => _map.Flow;

    /// <summary>The parameter blocks of θ.</summary>
    public ParameterLayout Parameters => _map.Flow.Parameters;

    /// <summary>The optimizer parts.</summary>
    public IReadOnlyList<OptimizerPart> Parts => _map.Flow.Parts;

    /// <summary>The schedule η0ᵖ (t + t_off)^{−a} of each part.</summary>
    public IReadOnlyList<Schedule> Schedules => _map.Flow.Schedules;

    /// <summary>The time step h.</summary>
    public double StepSize => _map.StepSize;

    /// <summary>How polar factors are computed.</summary>
    public PolarMethod Polar => _map.Polar;

    /// <summary>n, the number of steps taken.</summary>
    public long StepNumber { get; private set; }

    /// <summary>t_n = n h, the flow time this iterate corresponds to.</summary>
    public double Time => StepNumber * StepSize;

    /// <summary>The iterate as a state of <see cref="Flow"/> (moments with the map's own log scales, see <see cref="DiscreteFlowMap"/>).</summary>
    public ReadOnlySpan<double> State => _y.Values;

    /// <summary>θ_n.</summary>
    public ReadOnlySpan<double> Theta => _y.Values.AsSpan(0, Parameters.Length);

    /// <summary>log L(θ_n).</summary>
    public double LogLoss => _y.Values[Parameters.Length];

    /// <summary>∇ log L(θ_n) = g/L (the gradient that step n + 1 will use).</summary>
    public ReadOnlySpan<double> RelativeGradient => _evaluation.Values.AsSpan(0, Parameters.Length);

    /// <summary>d_n, the direction of the last step: θ_n = θ_{n−1} − h η(t_{n−1}) d_n, part by part (0 before the first step).</summary>
    public ReadOnlySpan<double> LastDirection => _map.LastDirection;

    /// <summary>h η(t_{n−1}) of part <paramref name="part"/> in the last step, the factor of its direction (0 before the first step).</summary>
    public double LastStepScale(int part) => StepNumber == 0 ? 0 : StepSize * Schedules[part].Eta((StepNumber - 1) * StepSize);

    /// <summary>Number of oracle evaluations so far (one per step, plus one at θ_0).</summary>
    public long GradientEvaluations => _map.GradientEvaluations;

    /// <summary>β1 = e^{−c1 h} of part <paramref name="part"/> (NaN when the part has no momentum).</summary>
    public double Beta1(int part) => Parts[part].HasMomentum ? Math.Exp(-Parts[part].C1 * StepSize) : double.NaN;

    /// <summary>β2 = e^{−c2 h} of part <paramref name="part"/> (NaN when the part has no second moment).</summary>
    public double Beta2(int part) => Parts[part].HasSecondMoment ? Math.Exp(-Parts[part].C2 * StepSize) : double.NaN;

    /// <summary>The log-scale s of part <paramref name="part"/>'s momentum: m_n = e^{s} · <see cref="MomentumMantissa"/> (the flow's λ_m).</summary>
    public double MomentumLogScale(int part) => _y.Values[Block(Flow.MomentumScaleBlock(part), part)];

    /// <summary>m̃ with m_n = e^{s} m̃ (see <see cref="MomentumLogScale"/>).</summary>
    public ReadOnlySpan<double> MomentumMantissa(int part) => _y.Values.AsSpan(Block(Flow.MomentumBlock(part), part), Flow.PartLength(part));

    /// <summary>The log-scale of part <paramref name="part"/>'s second moment: v_n = e^{s} · <see cref="SecondMomentMantissa"/> (the flow's λ_v).</summary>
    public double SecondMomentLogScale(int part) => _y.Values[Block(Flow.SecondMomentScaleBlock(part), part)];

    /// <summary>ṽ with v_n = e^{s} ṽ (see <see cref="SecondMomentLogScale"/>).</summary>
    public ReadOnlySpan<double> SecondMomentMantissa(int part) => _y.Values.AsSpan(Block(Flow.SecondMomentBlock(part), part), Flow.PartLength(part));

    /// <summary>
    /// destination ← m_n / L(θ_n), the flow's scaled momentum m̃ = m e^{−σ} at t_n (for comparing with a flow). The
    /// factor e^{s − log L} is clamped at e^{709}, reached only if m_n exceeded L(θ_n) by a factor beyond 1e308.
    /// </summary>
    public void CopyScaledMomentum(int part, Span<double> destination) =>
        TensorPrimitives.Multiply(MomentumMantissa(part), DiscreteFlowMap.Factor(MomentumLogScale(part) - LogLoss), destination);

    /// <summary>destination ← v_n / L(θ_n)², the flow's scaled second moment ṽ = v e^{−2σ} at t_n.</summary>
    public void CopyScaledSecondMoment(int part, Span<double> destination) =>
        TensorPrimitives.Multiply(SecondMomentMantissa(part), DiscreteFlowMap.Factor(SecondMomentLogScale(part) - (2 * LogLoss)), destination);

    /// <summary>
    /// Runs from the current state, with the engine's loop (<see cref="DiscreteSolver"/>), until log L ≤
    /// <paramref name="targetLogLoss"/>, <paramref name="maxSteps"/> steps in all have been taken, or the next state would
    /// not be finite (the optimizer then stays at the last finite one).
    /// </summary>
    /// <param name="maxSteps">Largest step number n to reach.</param>
    /// <param name="targetLogLoss">Stop once log L(θ_n) ≤ this.</param>
    /// <param name="onStep">Called with the stepper at the start and after every step.</param>
    public DiscreteStopReason RunUntil(long maxSteps, double targetLogLoss, Action<DiscreteOptimizer>? onStep = null)
    {
        var options = new FlowSolveOptions
        {
            TargetLogLoss = targetLogLoss,
            MaxTime = double.PositiveInfinity,
            MaxSteps = Math.Max(0, maxSteps - StepNumber),
            SaveAt = onStep is null ? SaveAt.Nothing : SaveAt.EveryStep(),
            KeepSavedStates = false,
            OnSave = onStep is null ? null : (t, y) =>
            {
                Take(t, y);
                onStep(this);
            },
        };
        OdeResult result = DiscreteSolver.Solve(_map, Time, _y.Values, options, plainScales: false);
        Take(result.FinalTime, result.FinalState);
        return result.Status switch
        {
            OdeStatus.EventReached => DiscreteStopReason.TargetReached,
            OdeStatus.NonFiniteState => DiscreteStopReason.NonFinite,
            _ => DiscreteStopReason.MaxSteps,
        };
    }

    /// <summary>Creates a stepper at θ_0 and runs it (see <see cref="RunUntil"/>); the arguments are the constructor's.</summary>
    public static DiscreteRunResult Run(IGradientOracle oracle, IReadOnlyList<OptimizerPart> parts, double power, double timeOffset, ReadOnlySpan<double> theta0, double stepSize, long maxSteps, double targetLogLoss, Action<DiscreteOptimizer>? onStep = null, PolarMethod polar = PolarMethod.Exact)
    {
        var optimizer = new DiscreteOptimizer(oracle, parts, power, timeOffset, theta0, stepSize, polar);
        DiscreteStopReason reason = optimizer.RunUntil(maxSteps, targetLogLoss, onStep);
        return new DiscreteRunResult(optimizer, reason);
    }

    /// <summary>
    /// Step n + 1, one application of the map (no stopping rule): moments from g = ∇L(θ_n) (Eq. 19, 20),
    /// θ ← θ − h η(t_n) d, then log L and ∇ log L at the new θ.
    /// </summary>
    public void Step()
    {
        _map.Step(Time, StepSize, _y, _evaluation, _yNext, _nextEvaluation);
        (_y, _yNext) = (_yNext, _y);
        (_evaluation, _nextEvaluation) = (_nextEvaluation, _evaluation);
        StepNumber++;
    }

    /// <summary>
    /// ‖NS(S) − U Vᵀ‖_F / ‖U Vᵀ‖_F over all polar blocks, where S is the source (momentum or gradient) of the last
    /// step: how much the Newton–Schulz Muon update differs from the exact one at this step (0 when no part is polar
    /// or no step was taken). A diagnostic: allocates.
    /// </summary>
    public double LastPolarDifference() => _map.LastPolarDifference();

    /// <summary>Takes the engine's state at t = n h as the iterate, with the map's evaluation there.</summary>
    private void Take(double t, double[] y)
    {
        y.CopyTo(_y.Values, 0);
        StepNumber = (long)Math.Round(t / StepSize);
        _map.Evaluate(t, _y, _evaluation);
    }

    /// <summary>The offset in the state of a layout block of part <paramref name="part"/>.</summary>
    private int Block(int block, int part) =>
        block >= 0 ? Flow.Layout.Offset(block) : throw new InvalidOperationException($"Part {part} carries no such moment.");
}
