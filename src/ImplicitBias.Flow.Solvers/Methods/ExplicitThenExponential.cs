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
public sealed class ExplicitThenExponential : MethodPair
{
    /// <summary>Creates the pair.</summary>
    /// <param name="first">The explicit method that starts the solve (adaptive).</param>
    /// <param name="then">The exponential method that takes over (adaptive).</param>
    public ExplicitThenExponential(ExplicitRungeKuttaMethod first, ExponentialRungeKuttaMethod then)
        : base(first, then)
    {
        if (!first.IsAdaptive || !then.IsAdaptive)
        {
            throw new ArgumentException($"'{first.Name}{Separator}{then.Name}': both methods must be adaptive.");
        }

        First = first;
        Then = then;
    }

    /// <summary>The explicit method.</summary>
    public ExplicitRungeKuttaMethod First { get; }

    /// <summary>The exponential method.</summary>
    public ExponentialRungeKuttaMethod Then { get; }

    /// <summary>The share of the explicit stability bound r/c_max an accepted step must reach to count.</summary>
    public double Fraction { get; init; } = 0.8;

    /// <summary>How many accepted steps in a row must reach it.</summary>
    public int Consecutive { get; init; } = 10;

    internal override IStepper<TState> CreateStepper<TState>(IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm)
    {
        double fastest = algebra.Layout.Blocks.Max(b => b.DecayRate);
        double boundStep = fastest > 0 ? Fraction * First.Tableau.RealStabilityBound / fastest : double.PositiveInfinity;
        return new HandOverStepper<TState>(First.CreateStepper(algebra, term, norm), Then.CreateStepper(algebra, term, norm), Consecutive, First.ErrorExponentOrder, Then.ErrorExponentOrder)
        {
            IsHeld = (_, _, h) => h >= boundStep,
            Note = (switched, time) => switched
                ? $"{First.Name} until t = {time:g6}, then {Then.Name} (the step had reached {Fraction:g2} of {First.Name}'s stability bound on the fastest decay)"
                : $"{First.Name} throughout (its step never reached the stability bound of the fastest decay)",
        };
    }
}
