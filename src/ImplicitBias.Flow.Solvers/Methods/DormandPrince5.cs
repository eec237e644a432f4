namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// Dormand–Prince 5(4) (J. Comput. Appl. Math. 6 (1980) 19–26), FSAL, with the fourth-order continuous
/// extension of Hairer's DOPRI5 (Solving ODEs I, §II.6, "Dense output for DOPRI5").
/// </summary>
public sealed class DormandPrince5 : ExplicitRungeKuttaMethod
{
    private static readonly double[] B = [35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0.0];

    // b̂ of the fourth-order embedded solution.
    private static readonly double[] BHat = [5179.0 / 57600, 0.0, 7571.0 / 16695, 393.0 / 640, -92097.0 / 339200, 187.0 / 2100, 1.0 / 40];

    // Hairer's d_i of the dense output (dopri5, CONTD5).
    private static readonly double[] D = [-12715105075.0 / 11282082432, 0.0, 87487479700.0 / 32700410799, -10690763975.0 / 1880347072, 701980252875.0 / 199316789632, -1453857185.0 / 822651844, 69997945.0 / 29380423];

    private static readonly ButcherTableau Coefficients = new(
        [
            [],
            [1.0 / 5],
            [3.0 / 40, 9.0 / 40],
            [44.0 / 45, -56.0 / 15, 32.0 / 9],
            [19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729],
            [9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656],
            [35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84],
        ],
        B,
        [0.0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0, 1.0],
        B.Zip(BHat, (b, bh) => b - bh).ToArray());

    /// <inheritdoc />
    public override string Name => "dopri5";

    /// <inheritdoc />
    public override int Order => 5;

    /// <inheritdoc />
    public override int ErrorExponentOrder => 5;

    /// <inheritdoc />
    public override ButcherTableau Tableau => Coefficients;

    /// <inheritdoc />
    public override bool HasOwnDenseOutput => true;

    /// <inheritdoc />
    public override void DenseWeights(double theta, Span<double> weights)
    {
        // Hairer's form y0 + θ(Δ + (1−θ)(r3 + θ(r4 + (1−θ) r5))) with Δ = h Σ b k, r3 = h k1 − Δ,
        // r4 = Δ − h k7 − r3 and r5 = h Σ d k, expanded into weights on the stages (k7 = f1).
        double u = 1.0 - theta;
        for (int i = 0; i < 7; i++)
        {
            double e1 = i == 0 ? 1.0 : 0.0;
            double e7 = i == 6 ? 1.0 : 0.0;
            double r3 = e1 - B[i];
            double r4 = B[i] - e7 - r3;
            weights[i] = theta * (B[i] + (u * (r3 + (theta * (r4 + (u * D[i]))))));
        }

        weights[7] = 0.0;
    }
}
