using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;
using ImplicitBias.Flow.Solvers.Rosenbrock;

namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// An explicit Runge–Kutta method that hands the solve to a Rosenbrock-W method once its step is held by stiffness in N
/// itself (not a decay of the layout, which <see cref="ExplicitThenExponential"/> handles): after each accepted step
/// the explicit stepper estimates h|λ| from f at its last two points of equal time (Hairer's stiffness detection of
/// DOPRI5, Hairer, Nørsett &amp; Wanner I, §II.10), and after <see cref="Consecutive"/> accepted steps in a row with
/// h|λ| ≥ <see cref="Fraction"/> r (r = the tableau's <see cref="ButcherTableau.RealStabilityBound"/>) the W-method, whose
/// Krylov W takes the few sharp directions out of the stability limit, goes on. Measured on the NGD flow on MNIST, whose
/// step is held by one isolated eigenvalue of ∂f/∂y that grows along the run (STEPPERS.md); a solve that is never held
/// stays the explicit method's, bit for bit.
/// </summary>
public sealed class ExplicitThenRosenbrock : MethodPair
{
    /// <summary>Creates the pair.</summary>
    /// <param name="first">The explicit method that starts the solve: adaptive, FSAL with its last internal stage at c = 1.</param>
    /// <param name="then">The Rosenbrock-W method that takes over.</param>
    public ExplicitThenRosenbrock(ExplicitRungeKuttaMethod first, RosenbrockWMethod then)
        : base(first, then)
    {
        if (!first.IsAdaptive || !CanDetect(first))
        {
            throw new ArgumentException($"'{first.Name}{Separator}{then.Name}': {first.Name} cannot estimate stiffness (it needs an adaptive FSAL tableau whose last internal stage is at c = 1).");
        }

        First = first;
        Then = then;
    }

    /// <summary>The explicit method.</summary>
    public ExplicitRungeKuttaMethod First { get; }

    /// <summary>The Rosenbrock-W method.</summary>
    public RosenbrockWMethod Then { get; }

    /// <summary>The same pair with another Rosenbrock-W method (e.g. other Krylov settings of the same one).</summary>
    public ExplicitThenRosenbrock WithThen(RosenbrockWMethod then) => new(First, then) { Fraction = Fraction, Consecutive = Consecutive };

    /// <summary>The fraction of the real stability bound at which h|λ| counts as held (Hairer's 3.25 of DOPRI5's 3.31).</summary>
    public double Fraction { get; init; } = 0.98;

    /// <summary>Held accepted steps in a row before the switch (Hairer's 15).</summary>
    public int Consecutive { get; init; } = 15;

    /// <summary>Whether an explicit method's stepper can estimate h|λ| (see the summary).</summary>
    public static bool CanDetect(ExplicitRungeKuttaMethod method)
    {
        ArgumentNullException.ThrowIfNull(method);
        return method.Tableau.CanEstimateStiffness;
    }

    internal override IStepper<TState> CreateStepper<TState>(IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm)
    {
        var first = (ExplicitRungeKuttaStepper<TState>)First.CreateStepper(algebra, term, norm);
        first.MeasureStiffness = true;
        double bound = Fraction * First.Tableau.RealStabilityBound;
        return new HandOverStepper<TState>(first, Then.CreateStepper(algebra, term, norm), Consecutive, First.ErrorExponentOrder, Then.ErrorExponentOrder)
        {
            IsHeld = (stepper, _, _) => ((ExplicitRungeKuttaStepper<TState>)stepper).StiffnessProduct >= bound,
            Note = (switched, time) => switched
                ? $"{First.Name} until t = {time:g6}, then {Then.Name} (h|λ| had reached {Fraction:g2} of {First.Name}'s stability bound)"
                : $"{First.Name} throughout (its step was never held by stiffness)",
        };
    }
}
