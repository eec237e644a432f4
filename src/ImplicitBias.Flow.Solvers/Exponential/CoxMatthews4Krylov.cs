using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Solvers.Exponential;

/// <summary>
/// ETDRK4 of Cox &amp; Matthews (<see cref="CoxMatthews4"/>: the same stages, weights, embedded estimate and dense
/// output) whose linear part is not only the blocks' decays but A = −C + B S Bᵀ Ω², the decays plus the Galerkin
/// projection of ∂N/∂y on a few block-split Ritz vectors of its largest eigenvalues (<c>KrylovLinearPart</c>), rebuilt
/// every <see cref="RefreshEvery"/> accepted steps ("etdrk4k"). The φ-functions of hA are exact: the decays' scalars on
/// the complement of span B and <see cref="MatrixPhi"/> of the r × r matrix h A_r on it. Meant for the flows with
/// momentum, whose step an explicit or decay-only exponential method holds at the stability bound of an oscillating
/// θ–m̃ mode (STEPPERS.md); a build costs <see cref="ArnoldiSteps"/> + r evaluations.
/// </summary>
public sealed class CoxMatthews4Krylov : ExponentialRungeKuttaMethod
{
    private readonly CoxMatthews4 _scalar = new();
    private readonly CoxMatthews4History _history = new();

    /// <inheritdoc />
    public override string Name => "etdrk4k";

    /// <inheritdoc />
    public override int Order => _scalar.Order;

    /// <inheritdoc />
    public override int ErrorExponentOrder => 4;

    /// <inheritdoc />
    public override int Stages => _scalar.Stages;

    /// <inheritdoc />
    public override IReadOnlyList<double> Nodes => _scalar.Nodes;

    /// <summary>Arnoldi steps per build of the linear part.</summary>
    public int ArnoldiSteps { get; init; } = 16;

    /// <summary>Ritz vectors (largest |μ|; a complex pair counts two) that span the linear part before the block split.</summary>
    public int Modes { get; init; } = 4;

    /// <summary>Accepted steps between two builds of the linear part.</summary>
    public int RefreshEvery { get; init; } = 20;


    /// <inheritdoc />
    public override bool HasHistoryEstimate => true;

    /// <inheritdoc />
    public override void HistoryEmbeddedWeights(double r, double z, Span<double> embedded) => _history.HistoryEmbeddedWeights(r, z, embedded);

    /// <inheritdoc />
    public override void StageCoefficients(int stage, double z, Span<double> row) => _scalar.StageCoefficients(stage, z, row);

    /// <inheritdoc />
    public override void Weights(double theta, double z, Span<double> weights, Span<double> embedded) => _scalar.Weights(theta, z, weights, embedded);

    /// <summary>
    /// The stage coefficients of <see cref="CoxMatthews4.StageCoefficients"/> with the matrix argument: given
    /// φ0(Z/2), φ1(Z/2) (r × r row-major), writes a_ij(Z) for j &lt; <paramref name="stage"/> into <paramref name="row"/>
    /// (each r × r, without the factor h), and e^{c_i Z} into <paramref name="scale"/>.
    /// </summary>
    public static void MatrixStageCoefficients(int stage, double[] halfPhi0, double[] halfPhi1, double[] fullPhi0, double[][] row, double[] scale)
    {
        int size = halfPhi0.Length;
        int r = (int)Math.Round(Math.Sqrt(size));
        switch (stage)
        {
            case 1:
                Scaled(halfPhi1, 0.5, row[0]);
                halfPhi0.CopyTo(scale, 0);
                break;
            case 2:
                Array.Clear(row[0]);
                Scaled(halfPhi1, 0.5, row[1]);
                halfPhi0.CopyTo(scale, 0);
                break;
            default:
                // φ1(Z/2)/2 · (φ0(Z/2) − I), 0, φ1(Z/2); the scale is e^{Z}.
                Array.Clear(row[0]);
                for (int i = 0; i < r; i++)
                {
                    for (int k = 0; k < r; k++)
                    {
                        double a = 0.5 * halfPhi1[(i * r) + k];
                        for (int j = 0; j < r; j++)
                        {
                            row[0][(i * r) + j] += a * (halfPhi0[(k * r) + j] - (k == j ? 1.0 : 0.0));
                        }
                    }
                }

                Array.Clear(row[1]);
                halfPhi1.CopyTo(row[2], 0);
                fullPhi0.CopyTo(scale, 0);
                break;
        }
    }

    /// <summary>
    /// The weights of <see cref="CoxMatthews4.Weights"/> with the matrix argument: given θ^k φ_k(θZ) for k = 0 … 3
    /// (<paramref name="phi"/>[0] = e^{θZ}), writes b_i(θ, Z) and, when <paramref name="embedded"/> is not null,
    /// b̂_i(Z) (θ = 1) — each r × r, without the factor h.
    /// </summary>
    public static void MatrixWeights(double[][] phi, double[][] weights, double[][]? embedded)
    {
        double[] p1 = phi[1], p2 = phi[2], p3 = phi[3];
        for (int i = 0; i < p1.Length; i++)
        {
            weights[0][i] = p1[i] - (3 * p2[i]) + (4 * p3[i]);
            weights[1][i] = (2 * p2[i]) - (4 * p3[i]);
            weights[2][i] = (2 * p2[i]) - (4 * p3[i]);
            weights[3][i] = (4 * p3[i]) - p2[i];
            if (embedded is not null)
            {
                embedded[0][i] = p1[i] - p2[i];
                embedded[1][i] = 0.0;
                embedded[2][i] = 0.0;
                embedded[3][i] = p2[i];
            }
        }
    }

    /// <summary>
    /// <see cref="CoxMatthews4History.HistoryEmbeddedWeights"/> with the matrix argument: given φ0 … φ3 of Z, writes
    /// b̂ on [N(t − r h), N_1, …, N_4] (each r × r, without the factor h; the zero weights of stages 2 and 3 included).
    /// </summary>
    public static void MatrixHistoryEmbeddedWeights(double ratio, double[][] phi, double[][] embedded)
    {
        double[] p1 = phi[1], p2 = phi[2], p3 = phi[3];
        for (int i = 0; i < p1.Length; i++)
        {
            embedded[0][i] = ((2 * p3[i]) - p2[i]) / (ratio * (ratio + 1));
            embedded[1][i] = -((2 * p3[i]) + ((ratio - 1) * p2[i]) - (ratio * p1[i])) / ratio;
            embedded[2][i] = 0.0;
            embedded[3][i] = 0.0;
            embedded[4][i] = ((2 * p3[i]) + (ratio * p2[i])) / (1 + ratio);
        }
    }

    internal override IStepper<TState> CreateStepper<TState>(IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm) =>
        new KrylovExponentialStepper<TState>(this, algebra, term, norm);

    private static void Scaled(double[] source, double factor, double[] destination)
    {
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = factor * source[i];
        }
    }
}
