using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;
using ImplicitBias.Flow.Solvers.Exponential;
using ImplicitBias.Flow.Solvers.Rosenbrock;

namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// An exponential Runge–Kutta method alone until the flow has run for <see cref="DecayTimes"/> times the slowest
/// decay's time 1/c_min of the layout (for Adam 1/c2, the memory of the second moment), then the two take turns with a
/// Rosenbrock-W method by measured cost. Early on, with ε = 0, the ratio m̂/√v̂ is sharply nonlinear where v̂ is still
/// small, the W-method's difference quotients fill its Krylov space with spurious directions and its step collapses
/// (STEPPERS.md: h ≈ 1e-5 in Adam's initial transient), while the exponential method, which needs no Jacobian, is
/// cheap; later the step of the exponential method is held by the oscillating θ–m̃ modes (its explicit part), which the
/// W-method's Krylov W takes in. Measured on the Adam probe (STEPPERS.md). Without a decay in the layout it never
/// switches.
/// </summary>
/// <remarks>
/// From the switch time on the two methods take turns by measurement (<see cref="MeasuredSwitchStepper{TState}"/>): the
/// W-method on trial first, then whichever advanced more flow time per evaluation, the other tried again after a stint
/// that doubles each time it loses. Where the W-method's Krylov space misses most of the θ–m̃ band (the paper's setting
/// at width 20) it loses most of its trials and the pair is mostly ETDRK4; where the band is narrow (the Adam
/// probe) it wins them. The phase, the counters and the evaluations of earlier segments are checkpoint memory, so a
/// resumed solve makes the same choices.
/// </remarks>
public sealed class ExponentialThenRosenbrock : MethodPair
{
    /// <summary>Creates the pair.</summary>
    /// <param name="first">The exponential method that starts the solve (adaptive).</param>
    /// <param name="then">The Rosenbrock-W method that takes over.</param>
    public ExponentialThenRosenbrock(ExponentialRungeKuttaMethod first, RosenbrockWMethod then)
        : base(first, then)
    {
        if (!first.IsAdaptive)
        {
            throw new ArgumentException($"'{first.Name}{Separator}{then.Name}': {first.Name} must be adaptive.");
        }

        First = first;
        Then = then;
    }

    /// <summary>The exponential method.</summary>
    public ExponentialRungeKuttaMethod First { get; }

    /// <summary>The Rosenbrock-W method.</summary>
    public RosenbrockWMethod Then { get; }

    /// <summary>How many times 1/c_min (the slowest decay's time) the first method runs before the switch.</summary>
    public double DecayTimes { get; init; } = 3;

    /// <summary>The same pair with another Rosenbrock-W method (e.g. other Krylov settings of the same one).</summary>
    public ExponentialThenRosenbrock WithThen(RosenbrockWMethod then) => new(First, then) { DecayTimes = DecayTimes };

    /// <summary>The time of the switch on a layout: <see cref="DecayTimes"/> / c_min, or ∞ without a decay.</summary>
    public double SwitchTime(StateLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        double slowest = layout.Blocks.Select(b => b.DecayRate).Where(c => c > 0).DefaultIfEmpty(0).Min();
        return slowest > 0 ? DecayTimes / slowest : double.PositiveInfinity;
    }

    /// <summary>
    /// How the pair measures after the switch time (<see cref="MeasuredSwitchStepper{TState}"/>): windows of 40 accepted
    /// steps (the W-method's rebuild period, so a window of it pays one rebuild), the other method tried after 160
    /// accepted steps, then after twice as many each time it loses, at most 5,120; a trial takes over if it advances
    /// 10 % more flow time per evaluation.
    /// </summary>
    internal static MeasuredSwitchSettings Measurement { get; } = new(Window: 40, FirstStint: 160, LongestStint: 5120, Advantage: 1.1);

    internal override IStepper<TState> CreateStepper<TState>(IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm)
    {
        double switchTime = SwitchTime(algebra.Layout);
        return new MeasuredSwitchStepper<TState>(First.CreateStepper(algebra, term, norm), Then.CreateStepper(algebra, term, norm), First.ErrorExponentOrder, Then.ErrorExponentOrder, Measurement)
        {
            IsDue = t => t >= switchTime,
            Note = (measuring, time, timeOn, switches) => measuring
                ? $"{First.Name} until t = {time:g6} ({DecayTimes:g3} times the slowest decay's time 1/c), then by measured time per evaluation: {Then.Name} for {100 * timeOn[1] / Math.Max(timeOn[0] + timeOn[1], double.Epsilon):F1} % of the time since, {First.Name} for the rest ({switches} switches)"
                : $"{First.Name} throughout (the run ended before {DecayTimes:g3} times the slowest decay's time 1/c)",
        };
    }
}
