using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;
using ImplicitBias.Flow.Solvers.Exponential;
using ImplicitBias.Flow.Solvers.Rosenbrock;

namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// An exponential Runge–Kutta method that hands the solve to a Rosenbrock-W method once the flow has run for
/// <see cref="DecayTimes"/> times the slowest decay's time 1/c_min of the layout (for Adam 1/c2, the memory of the
/// second moment). Early on, with ε = 0, the ratio m̂/√v̂ is sharply nonlinear where v̂ is still small, the W-method's
/// difference quotients fill its Krylov space with spurious directions and its step collapses (STEPPERS.md: h ≈ 1e-5 in
/// Adam's initial transient), while the exponential method, which needs no Jacobian, is cheap; later the step of the
/// exponential method is held by the oscillating θ–m̃ modes (its explicit part), which the W-method's Krylov W takes
/// in. Measured on the Adam probe (STEPPERS.md). Without a decay in the layout it never switches.
/// </summary>
/// <remarks>
/// The switch is one way, at the start of the first step after the time is reached; the phase and the evaluations
/// before it are checkpoint memory (<see cref="HandOverStepper{TState}"/>), so a resumed solve switches where the
/// uninterrupted one did.
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

    internal override IStepper<TState> CreateStepper<TState>(IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm)
    {
        double switchTime = SwitchTime(algebra.Layout);
        return new HandOverStepper<TState>(First.CreateStepper(algebra, term, norm), Then.CreateStepper(algebra, term, norm), 1, First.ErrorExponentOrder, Then.ErrorExponentOrder)
        {
            IsHeld = (_, t, _) => t >= switchTime,
            Note = (switched, time) => switched
                ? $"{First.Name} until t = {time:g6}, then {Then.Name} ({DecayTimes:g3} times the slowest decay's time 1/c had passed)"
                : $"{First.Name} throughout (the run ended before {DecayTimes:g3} times the slowest decay's time 1/c)",
        };
    }
}
