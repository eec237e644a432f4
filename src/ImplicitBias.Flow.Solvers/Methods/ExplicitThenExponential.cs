using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;
using ImplicitBias.Flow.Solvers.Exponential;

namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// An explicit Runge–Kutta method that hands the solve to an exponential one once its step is held by the stability
/// bound of the layout's fastest decay −c y: the explicit method is the cheaper one while the flow moves fast (FSAL,
/// a higher-order error estimate), but on y′ = −c y + N its step cannot exceed r/c (r = the tableau's
/// <see cref="ButcherTableau.RealStabilityBound"/>, 3.31 for DOPRI5), while the exponential method integrates the
/// decay exactly and its step then follows N alone. Measured (the name's "+"): Muon-Adam on a two-layer network to
/// log L = −1000 took 357,734 evaluations with Tsitouras 5 alone, held at h ≈ 33 ≈ 3.5/c1 for 99.8 % of its steps,
/// 16,022 with ETDRK4 alone and 14,010 with this pair (switching at t = 1,072); to log L = −30 the explicit method
/// wins, and the pair, which never or only at the end reaches the bound, costs the same (or 5 % more).
/// </summary>
/// <remarks>
/// The switch is one way and measured on the accepted steps: after <see cref="Consecutive"/> accepted steps in a row
/// with h c_max ≥ <see cref="Fraction"/> r the next step is the exponential method's (one more evaluation, its N at
/// the switch point). Interpolation inside the last explicit step stays the explicit method's. The phase, the count
/// and the evaluations before the switch are the stepper's checkpoint memory, so a resumed solve switches where the
/// uninterrupted one did. With no decay in the layout (c_max = 0) it never switches and is the explicit method.
/// </remarks>
public sealed class ExplicitThenExponential : OdeMethod
{
    /// <summary>Creates the pair.</summary>
    /// <param name="first">The explicit method that starts the solve (adaptive).</param>
    /// <param name="then">The exponential method that takes over (adaptive).</param>
    public ExplicitThenExponential(ExplicitRungeKuttaMethod first, ExponentialRungeKuttaMethod then)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(then);
        if (!first.IsAdaptive || !then.IsAdaptive)
        {
            throw new ArgumentException($"'{first.Name}{Separator}{then.Name}': both methods must be adaptive.");
        }

        First = first;
        Then = then;
    }

    /// <summary>The character between the two names.</summary>
    public const char Separator = '+';

    /// <summary>The explicit method.</summary>
    public ExplicitRungeKuttaMethod First { get; }

    /// <summary>The exponential method.</summary>
    public ExponentialRungeKuttaMethod Then { get; }

    /// <summary>The share of the explicit stability bound r/c_max an accepted step must reach to count.</summary>
    public double Fraction { get; init; } = 0.8;

    /// <summary>How many accepted steps in a row must reach it.</summary>
    public int Consecutive { get; init; } = 10;

    /// <inheritdoc />
    public override string Name => $"{First.Name}{Separator}{Then.Name}";

    /// <inheritdoc />
    public override int Order => First.Order;

    /// <inheritdoc />
    public override int ErrorExponentOrder => First.ErrorExponentOrder;

    /// <inheritdoc />
    public override IStepSizeController DefaultController => First.DefaultController;

    internal override IStepper<TState> CreateStepper<TState>(IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm) =>
        new Stepper<TState>(this, algebra, First.CreateStepper(algebra, term, norm), Then.CreateStepper(algebra, term, norm));

    private sealed class Stepper<TState> : IStepper<TState>
        where TState : class
    {
        private readonly ExplicitThenExponential _method;
        private readonly IStepper<TState> _first;
        private readonly IStepper<TState> _then;
        private readonly double _boundStep;
        private bool _switched;
        private bool _switchDue;
        private int _count;
        private long _firstEvaluations;
        private double _switchTime = double.NaN;

        // What Resume received; RestoreMemory (called right after it) decides which stepper resumes.
        private double _resumeTime;
        private TState? _resumeState;
        private TState? _resumeDerivative;
        private long _resumeEvaluations;

        public Stepper(ExplicitThenExponential method, IStateAlgebra<TState> algebra, IStepper<TState> first, IStepper<TState> then)
        {
            _method = method;
            _first = first;
            _then = then;
            double fastest = algebra.Layout.Blocks.Max(b => b.DecayRate);
            _boundStep = fastest > 0 ? method.Fraction * method.First.Tableau.RealStabilityBound / fastest : double.PositiveInfinity;
        }

        private IStepper<TState> Current => _switched ? _then : _first;

        public long Evaluations => _switched ? _firstEvaluations + _then.Evaluations : _first.Evaluations;

        public TState FirstStage => Current.FirstStage;

        public TState CachedDerivative => Current.CachedDerivative;

        public int? ErrorExponentOrder => _switched ? _method.Then.ErrorExponentOrder : _method.First.ErrorExponentOrder;

        public string? Note => _switched
            ? $"{_method.First.Name} until t = {_switchTime:g6}, then {_method.Then.Name} (the step had reached {_method.Fraction:g2} of {_method.First.Name}'s stability bound on the fastest decay)"
            : $"{_method.First.Name} throughout (its step never reached the stability bound of the fastest decay)";

        public double[] Memory => [_switched ? 1 : 0, _switchDue ? 1 : 0, _count, _firstEvaluations, _switchTime, .. Current.Memory];

        public void Start(double t, TState y)
        {
            _switched = false;
            _switchDue = false;
            _count = 0;
            _first.Start(t, y);
        }

        public void Resume(double t, TState y, TState derivative, long evaluations)
        {
            _resumeTime = t;
            _resumeState = y;
            _resumeDerivative = derivative;
            _resumeEvaluations = evaluations;

            // A checkpoint without this stepper's memory resumes the explicit phase.
            _switched = false;
            _switchDue = false;
            _count = 0;
            _first.Resume(t, y, derivative, evaluations);
        }

        public void RestoreMemory(double[] memory)
        {
            if (memory.Length < 5)
            {
                return;
            }

            _switched = memory[0] != 0;
            _switchDue = memory[1] != 0;
            _count = (int)memory[2];
            _firstEvaluations = (long)memory[3];
            _switchTime = memory[4];
            if (_switched)
            {
                _then.Resume(_resumeTime, _resumeState!, _resumeDerivative!, _resumeEvaluations - _firstEvaluations);
            }

            Current.RestoreMemory(memory[5..]);
        }

        public void Derivative(double t, TState y, TState destination) => Current.Derivative(t, y, destination);

        public double Attempt(double t, TState y, double h, TState yNew)
        {
            if (_switchDue && !_switched)
            {
                // At the start of a step, not at the accepted step's end: saves and events inside the last explicit
                // step still interpolate with the explicit method.
                _firstEvaluations = _first.Evaluations;
                _then.Start(t, y);
                _switched = true;
                _switchTime = t;
            }

            return Current.Attempt(t, y, h, yNew);
        }

        public void Accept(double t, double h, TState y, TState yNew)
        {
            Current.Accept(t, h, y, yNew);
            if (_switched)
            {
                return;
            }

            _count = h >= _boundStep ? _count + 1 : 0;
            _switchDue = _count >= _method.Consecutive;
        }

        public void Interpolate(double theta, TState destination) => Current.Interpolate(theta, destination);
    }
}
