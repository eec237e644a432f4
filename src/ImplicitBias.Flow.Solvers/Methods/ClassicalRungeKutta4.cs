namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>The classical fourth-order Runge–Kutta method, fixed step only (a baseline; Hairer §II.1).</summary>
public sealed class ClassicalRungeKutta4 : ExplicitRungeKuttaMethod
{
    private static readonly ButcherTableau Coefficients = new(
        [[], [1.0 / 2], [0.0, 1.0 / 2], [0.0, 0.0, 1.0]],
        [1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6],
        [0.0, 1.0 / 2, 1.0 / 2, 1.0],
        null);

    /// <inheritdoc />
    public override string Name => "rk4";

    /// <inheritdoc />
    public override int Order => 4;

    /// <inheritdoc />
    public override int ErrorExponentOrder => 0;

    /// <inheritdoc />
    public override ButcherTableau Tableau => Coefficients;
}
