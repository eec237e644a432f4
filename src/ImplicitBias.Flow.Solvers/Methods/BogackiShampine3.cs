namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// Bogacki–Shampine 3(2) (Appl. Math. Lett. 2 (1989) 321–325), FSAL, propagating the third-order solution;
/// Hermite dense output (third order).
/// </summary>
public sealed class BogackiShampine3 : ExplicitRungeKuttaMethod
{
    private static readonly ButcherTableau Coefficients = new(
        [[], [1.0 / 2], [0.0, 3.0 / 4], [2.0 / 9, 1.0 / 3, 4.0 / 9]],
        [2.0 / 9, 1.0 / 3, 4.0 / 9, 0.0],
        [0.0, 1.0 / 2, 3.0 / 4, 1.0],
        // b − b̂ with b̂ = (7/24, 1/4, 1/3, 1/8).
        [2.0 / 9 - 7.0 / 24, 1.0 / 3 - 1.0 / 4, 4.0 / 9 - 1.0 / 3, -1.0 / 8]);

    /// <inheritdoc />
    public override string Name => "bs3";

    /// <inheritdoc />
    public override int Order => 3;

    /// <inheritdoc />
    public override int ErrorExponentOrder => 3;

    /// <inheritdoc />
    public override ButcherTableau Tableau => Coefficients;
}
