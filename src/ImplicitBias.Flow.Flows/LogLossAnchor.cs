using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Flows;

/// <summary>How a solve reads and writes σ of its states and computes the true log L(θ) of a state.</summary>
/// <typeparam name="TState">The storage of one state vector.</typeparam>
/// <param name="Sigma">σ of a state (the integrated log L).</param>
/// <param name="SetSigma">Writes σ of a state.</param>
/// <param name="EvaluateLogLoss">log L(θ) of a state, computed by the model (one gradient evaluation).</param>
/// <param name="LastLogLoss">log L(θ) at the term's last evaluation.</param>
public sealed record FlowStateAccess<TState>(Func<TState, double> Sigma, Action<TState, double> SetSigma, Func<TState, double> EvaluateLogLoss, Func<double> LastLogLoss)
    where TState : class;

/// <summary>How far the integrated σ strayed from log L(θ) during a solve, and what was done about it.</summary>
public sealed class LogLossDrift
{
    /// <summary>The largest |σ − log L(θ)| found at an accepted step, before σ was re-anchored there.</summary>
    public double MaxAbsolute { get; set; }

    /// <summary>Accepted steps at which σ was re-anchored to log L(θ).</summary>
    public long Anchors { get; set; }

    /// <summary>Steps in which σ crossed the target but log L(θ) did not (the solve went on).</summary>
    public long UnconfirmedCrossings { get; set; }

    /// <summary>Gradient evaluations of log L(θ) spent checking and locating crossings.</summary>
    public long ExactEvaluations { get; set; }

    /// <summary>
    /// Σ (σ − log L(θ)) over the accepted steps, before each re-anchoring: how much further the integral of
    /// d log L/dt = ⟨∇ log L, dθ/dt⟩ moved than log L(θ) itself did. Each term is a local error and their signs vary
    /// on a solve that follows the flow; steps that leave the flow (zigzagging across a valley narrower than the
    /// tolerance, where ∇ log L is large and turns at every step while θ hardly moves) add terms of one sign.
    /// </summary>
    public double Accumulated { get; private set; }

    /// <summary>log L(θ) where the solve started (NaN when not known, e.g. a checkpoint written before it was kept).</summary>
    public double StartLogLoss { get; set; } = double.NaN;

    /// <summary>
    /// Accepted steps per window of the consistency check: 200. A window is off the flow when
    /// |Σ (σ − log L(θ))| over it exceeds <see cref="OffFlowShare"/> × |Δ log L(θ)| over it and
    /// <see cref="OffFlowFloor"/>. Measured (<see cref="WorstWindowShare"/>): NGD at Table 1 on MNIST, default settings,
    /// 0.0017 (exponential loss, 10 windows) and 0.023 (logistic loss to t = 215, 23 windows); the quickstart and the
    /// examples of experiments/ at most 2.3e-6; ros34pw2 zigzagging across the logistic loss's valley (from θ(200), see
    /// Flows/STEPPERS.md) 29 in its first window. So ½ sits 20× above the worst run that follows the flow.
    /// </summary>
    public const int Window = 200;

    /// <summary>The share of a window's change of log L(θ) that its accumulated drift may reach: ½.</summary>
    public const double OffFlowShare = 0.5;

    /// <summary>The accumulated drift over a window that never counts as off the flow: 1e-3 (rounding and local errors).</summary>
    public const double OffFlowFloor = 1e-3;

    /// <summary>
    /// The factor by which a window off the flow tightens every tolerance for the rest of the solve: 0.1, at most
    /// <see cref="MaxTightenings"/> times. From the default run's θ(200) with the logistic loss (NGD at Table 1 on
    /// MNIST), ros34pw2 at rtol 1e-6 left the flow (log L −11.2418 after 3 units, 23,741 evaluations) where at 1e-7 it
    /// followed it (−11.4960, 1,091 evaluations) and at 1e-8 too (−11.4973, 766; reference −11.4987): a tolerance
    /// that sees the valley's width lets the W-method take the floor's stiffness in.
    /// </summary>
    public const double TighteningFactor = 0.1;

    /// <summary>The most times a solve tightens its tolerances: 2 (rtol 1e-6 becomes at most 1e-8).</summary>
    public const int MaxTightenings = 2;

    /// <summary>How many times the tolerances were tightened (a window off the flow each).</summary>
    public int Tightenings { get; private set; }

    /// <summary>The factor on every tolerance now: <see cref="TighteningFactor"/>^<see cref="Tightenings"/>.</summary>
    public double ToleranceScale => Math.Pow(TighteningFactor, Tightenings);

    /// <summary>
    /// The largest |Σ (σ − log L(θ))| / |Δ log L(θ)| of a closed window: how near the solve came to the threshold
    /// <see cref="OffFlowShare"/> (0 before the first window).
    /// </summary>
    public double WorstWindowShare { get; private set; }

    /// <summary>Windows checked so far.</summary>
    public long Windows { get; private set; }

    /// <summary>Windows found off the flow.</summary>
    public long OffFlowWindows { get; private set; }

    /// <summary>The time at the end of the first window found off the flow (NaN when none).</summary>
    public double FirstOffFlowTime { get; private set; } = double.NaN;

    /// <summary>Anchored steps in the open window.</summary>
    public int WindowSteps { get; private set; }

    /// <summary>Σ (σ − log L(θ)) over the open window.</summary>
    public double WindowAccumulated { get; private set; }

    /// <summary>log L(θ) where the open window started.</summary>
    public double WindowStartLogLoss { get; private set; } = double.NaN;

    /// <summary>Adds one anchored step (its drift and the log L(θ) it ended at) to the open window, closing it when full.</summary>
    public void AddStep(double t, double drift, double logLoss, double previousLogLoss)
    {
        Accumulated += drift;
        if (double.IsNaN(WindowStartLogLoss))
        {
            WindowStartLogLoss = double.IsNaN(previousLogLoss) ? StartLogLoss : previousLogLoss;
        }

        WindowAccumulated += drift;
        if (++WindowSteps < Window || double.IsNaN(WindowStartLogLoss))
        {
            return;
        }

        Windows++;
        double change = Math.Abs(logLoss - WindowStartLogLoss);
        double share = Math.Abs(WindowAccumulated) / change;
        if (!(share <= WorstWindowShare))
        {
            WorstWindowShare = double.IsNaN(share) ? WorstWindowShare : share;
        }

        if (Math.Abs(WindowAccumulated) > Math.Max(OffFlowShare * change, OffFlowFloor))
        {
            OffFlowWindows++;
            if (double.IsNaN(FirstOffFlowTime))
            {
                FirstOffFlowTime = t;
            }

            if (Tightenings < MaxTightenings)
            {
                Tightenings++;
            }
        }

        WindowSteps = 0;
        WindowAccumulated = 0;
        WindowStartLogLoss = logLoss;
    }

    /// <summary>
    /// Writes what <see cref="ReadConsistency"/> restores: the accumulated drift, log L at the start, the windows and
    /// the tightenings (for a run's checkpoint, so that a resumed solve judges and tightens as the whole one).
    /// </summary>
    public void WriteConsistency(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(Accumulated);
        writer.Write(StartLogLoss);
        writer.Write(Windows);
        writer.Write(OffFlowWindows);
        writer.Write(FirstOffFlowTime);
        writer.Write(WindowSteps);
        writer.Write(WindowAccumulated);
        writer.Write(WindowStartLogLoss);
        writer.Write(Tightenings);
        writer.Write(WorstWindowShare);
    }

    /// <summary>Reads what <see cref="WriteConsistency"/> wrote.</summary>
    public void ReadConsistency(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        Accumulated = reader.ReadDouble();
        StartLogLoss = reader.ReadDouble();
        Windows = reader.ReadInt64();
        OffFlowWindows = reader.ReadInt64();
        FirstOffFlowTime = reader.ReadDouble();
        WindowSteps = reader.ReadInt32();
        WindowAccumulated = reader.ReadDouble();
        WindowStartLogLoss = reader.ReadDouble();
        Tightenings = reader.ReadInt32();
        WorstWindowShare = reader.ReadDouble();
    }

    /// <summary>
    /// A one-line warning when some window was off the flow (null otherwise): the integrated log L said the loss fell
    /// much further than log L(θ) did, so the steps there did not follow the flow although each passed its error test.
    /// </summary>
    public string? OffFlowWarning() => OffFlowWindows == 0 ? null :
        $"{OffFlowWindows} of {Windows} windows of {Window} accepted steps left the flow (first ending at t = {FirstOffFlowTime:g6}): "
        + $"there the integral of d log L/dt = <grad log L, dtheta/dt> fell much further than log L(theta) did ({Accumulated:g3} further over the run), "
        + "so the steps zigzagged instead of following the flow although each passed its error test"
        + (Tightenings > 0 ? $"; the tolerances were tightened {Math.Round(1 / ToleranceScale):0}x from there on" : string.Empty)
        + "; check the run against a smaller Solver:RelTol (ibflow work-precision).";
}

/// <summary>
/// Keeps σ = log L honest. σ is integrated through dσ/dt = ⟨∇ log L, dθ/dt⟩, which is exact for the true
/// solution but drifts from log L(θ) numerically wherever log L(θ(t)) is not smooth (ReLU units switching: at
/// depth 5 σ reached 107 while log L was 2.6). Every evaluation of the term computes log L(θ) exactly, and every
/// stepper evaluates the term at the accepted state (the FSAL stage or the next step's first stage), so after
/// each accepted step σ is replaced by that exact value at no cost (<see cref="Anchor"/>). σ enters the vector
/// field only through the blend weight of the moments' log-scale rates, so the stepper's cached derivative stays
/// valid. A target crossing seen on σ counts only if log L(θ) computed by the model has crossed by the end of the
/// step, and it is then located on log L(θ) itself (<see cref="ExactLogLoss"/>), so no run ends as "target
/// reached" unless the model's loss is at or below the target there.
/// </summary>
/// <typeparam name="TState">The storage of one state vector.</typeparam>
/// <remarks>It forwards the inner term's closed-form ∂N/∂t (<see cref="ITimeDerivativeTerm{TState}"/>). That reads σ of
/// the state, which the anchoring may have moved after N there was evaluated; the Rosenbrock-W step that asks for it
/// keeps its order with any time column, so the difference (σ's drift, ≤ 1e-7 in the runs measured) costs nothing but
/// rounding.</remarks>
internal sealed class LogLossAnchor<TState>(IOdeTerm<TState> inner, FlowStateAccess<TState> access, LogLossDrift drift, double target) : IOdeTerm<TState>, ITimeDerivativeTerm<TState>, IJacobianModelTerm, ICoordinateScaleTerm
    where TState : class
{
    private readonly ICoordinateScaleTerm? _coordinateScales = inner as ICoordinateScaleTerm;

    /// <inheritdoc/>
    public bool HasCoordinateScales => CoordinateScaleForwarding.Has(_coordinateScales);

    /// <inheritdoc/>
    public void CoordinateScales(double t, ReadOnlySpan<double> y, Span<double> scales) => CoordinateScaleForwarding.Forward(_coordinateScales, t, y, scales);

    private readonly IJacobianModelTerm? _jacobianModel = inner as IJacobianModelTerm;

    /// <inheritdoc/>
    public int JacobianModelRank => _jacobianModel?.JacobianModelRank ?? 0;

    /// <inheritdoc/>
    public int JacobianModel(double t, ReadOnlySpan<double> y, ReadOnlySpan<double> n, double[][] range, double[][] coRange) =>
        _jacobianModel is { JacobianModelRank: > 0 } model ? model.JacobianModel(t, y, n, range, coRange) : 0;

    private readonly ITimeDerivativeTerm<TState>? _timeDerivative = inner as ITimeDerivativeTerm<TState>;

    /// <inheritdoc/>
    public bool HasTimeDerivative => _timeDerivative is { HasTimeDerivative: true };

    /// <inheritdoc/>
    public void TimeDerivative(double t, TState y, TState n, TState destination) =>
        (_timeDerivative ?? throw new InvalidOperationException("The term has no closed-form time derivative.")).TimeDerivative(t, y, n, destination);

    private TState? _lastState;
    private double _previousLogLoss = double.NaN;
    private double _lastLogLoss = double.NaN;

    public LogLossDrift Drift { get; } = drift;

    public void Evaluate(double t, TState y, TState dydt)
    {
        inner.Evaluate(t, y, dydt);
        _lastState = y;
        _lastLogLoss = access.LastLogLoss();
    }

    /// <summary>After an accepted step: σ ← log L(θ) when the term's last evaluation was at this very state.</summary>
    public bool Anchor(double t, TState y)
    {
        if (!ReferenceEquals(y, _lastState) || !double.IsFinite(_lastLogLoss))
        {
            return false;
        }

        double sigma = access.Sigma(y);
        double drift = sigma - _lastLogLoss;
        Drift.MaxAbsolute = Math.Max(Drift.MaxAbsolute, Math.Abs(drift));
        Drift.AddStep(t, drift, _lastLogLoss, _previousLogLoss);
        _previousLogLoss = _lastLogLoss;
        Drift.Anchors++;
        if (sigma <= target && _lastLogLoss > target)
        {
            Drift.UnconfirmedCrossings++;
        }

        if (drift == 0)
        {
            return false;
        }

        access.SetSigma(y, _lastLogLoss);
        return true;
    }

    /// <summary>
    /// log L(θ) of a state computed by the model: the exact condition of the target event, asked when σ has crossed
    /// the target in a step (at the step's ends, then while the crossing is located on it).
    /// </summary>
    public double ExactLogLoss(TState y)
    {
        double logLoss = access.EvaluateLogLoss(y);
        Drift.ExactEvaluations++;
        return logLoss;
    }
}
