namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>The explicit Euler method, fixed step only (a baseline).</summary>
public sealed class Euler : ExplicitRungeKuttaMethod
{
    private static readonly ButcherTableau Coefficients = new([[]], [1.0], [0.0], null);

    /// <inheritdoc />
    public override string Name => "euler";

    /// <inheritdoc />
    public override int Order => 1;

    /// <inheritdoc />
    public override int ErrorExponentOrder => 0;

    /// <inheritdoc />
    public override ButcherTableau Tableau => Coefficients;
}
