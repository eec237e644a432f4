namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>Heun's method with the explicit Euler method as embedded estimate: a 2(1) pair (Hairer §II.4).</summary>
public sealed class HeunEuler : ExplicitRungeKuttaMethod
{
    private static readonly ButcherTableau Coefficients = new(
        [[], [1.0]],
        [1.0 / 2, 1.0 / 2],
        [0.0, 1.0],
        [1.0 / 2 - 1.0, 1.0 / 2]);

    /// <inheritdoc />
    public override string Name => "heun-euler";

    /// <inheritdoc />
    public override int Order => 2;

    /// <inheritdoc />
    public override int ErrorExponentOrder => 2;

    /// <inheritdoc />
    public override ButcherTableau Tableau => Coefficients;
}
