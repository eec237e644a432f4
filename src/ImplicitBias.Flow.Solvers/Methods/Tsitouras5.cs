namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// Tsitouras 5(4) (Comput. Math. Appl. 62 (2011) 770–775), FSAL, coefficients as published (decimal, as in
/// OrdinaryDiffEq.jl's Tsit5), with Tsitouras's fourth-order continuous extension b_i(θ) = Σ_k r_ik θ^k.
/// </summary>
public sealed class Tsitouras5 : ExplicitRungeKuttaMethod
{
    private static readonly double[] B = [0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774, 0.0];

    private static readonly ButcherTableau Coefficients = new(
        [
            [],
            [0.161],
            [-0.008480655492356989, 0.335480655492357],
            [2.8971530571054935, -6.359448489975075, 4.3622954328695815],
            [5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525],
            [5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401, -0.028269050394068383],
            [0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774],
        ],
        B,
        [0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0],
        // b − b̂ as published.
        [-0.00178001105222577714, -0.0008164344596567469, 0.007880878010261995, -0.1447110071732629, 0.5823571654525552, -0.45808210592918697, 1.0 / 66]);

    // r_ik, k = 1..4, of the interpolation polynomials b_i(θ) (Tsitouras 2011, as tabulated in OrdinaryDiffEq.jl).
    private static readonly double[,] R =
    {
        { 1.0, -2.763706197274826, 2.9132554618219126, -1.0530884977290216 },
        { 0.0, 0.13169999999999998, -0.2234, 0.1017 },
        { 0.0, 3.9302962368947516, -5.941033872131505, 2.490627285651253 },
        { 0.0, -12.411077166933676, 30.33818863028232, -16.548102889244902 },
        { 0.0, 37.50931341651104, -88.1789048947664, 47.37952196281928 },
        { 0.0, -27.896526289197286, 65.09189467479366, -34.87065786149661 },
        { 0.0, 1.5, -4.0, 2.5 },
    };

    /// <inheritdoc />
    public override bool HasOwnDenseOutput => true;

    /// <inheritdoc />
    public override void DenseWeights(double theta, Span<double> weights)
    {
        for (int i = 0; i < 7; i++)
        {
            weights[i] = theta * (R[i, 0] + (theta * (R[i, 1] + (theta * (R[i, 2] + (theta * R[i, 3]))))));
        }

        // The last stage already is f1 (FSAL).
        weights[7] = 0.0;
    }

    /// <inheritdoc />
    public override string Name => "tsit5";

    /// <inheritdoc />
    public override int Order => 5;

    /// <inheritdoc />
    public override int ErrorExponentOrder => 5;

    /// <inheritdoc />
    public override ButcherTableau Tableau => Coefficients;
}
