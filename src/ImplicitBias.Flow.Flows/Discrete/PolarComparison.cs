using System.Numerics.Tensors;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Flows.Optimizers;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Flows.Discrete;

/// <summary>How far one Newton–Schulz Muon update is from the exact one.</summary>
/// <param name="RelativeDifference">‖NS(M) − U Vᵀ‖_F / ‖U Vᵀ‖_F (0 for M = 0).</param>
/// <param name="MinSingularValue">The smallest of the first rank(M) singular values of NS(M) (ideally 1).</param>
/// <param name="MaxSingularValue">The largest singular value of NS(M) (ideally 1).</param>
public sealed record PolarDifference(double RelativeDifference, double MinSingularValue, double MaxSingularValue);

/// <summary>
/// Compares the Newton–Schulz polar factor with the exact U Vᵀ on one matrix, for <c>ibflow compare</c> to report
/// what the practical Muon changes in a single update (docs/mathematics.md §4). A diagnostic: it allocates (two SVDs).
/// </summary>
public static class PolarComparison
{
    /// <summary>Compares NS(M) (with <paramref name="steps"/> iterations) with U Vᵀ of the row-major matrix M.</summary>
    public static PolarDifference Compare(ReadOnlySpan<double> matrix, int rows, int cols, int steps = NewtonSchulz.DefaultSteps)
    {
        if (matrix.Length != rows * cols)
        {
            throw new ArgumentException($"Expected {rows}×{cols} values; got {matrix.Length}.", nameof(matrix));
        }

        var exact = new double[matrix.Length];
        var approx = new double[matrix.Length];
        var layout = new ParameterLayout([new ParameterBlock("M", rows, cols, IsMatrix: true)]);
        new PolarScratch(layout).Compute(0, matrix, exact);
        new NewtonSchulz(rows, cols, steps).Orthogonalize(matrix, approx);

        double exactNorm = TensorPrimitives.Norm(exact);
        if (exactNorm == 0)
        {
            return new PolarDifference(0, 0, 0);
        }

        double difference = TensorPrimitives.Distance(approx, exact) / exactNorm;

        // rank(M) = ‖U Vᵀ‖_F² (each kept singular direction contributes 1).
        int rank = (int)Math.Round(exactNorm * exactNorm);
        var s = Matrix<double>.Build.Dense(rows, cols, (r, c) => approx[(r * cols) + c]).Svd(computeVectors: false).S;
        return new PolarDifference(difference, s[Math.Max(rank, 1) - 1], s[0]);
    }

    /// <summary>The relative difference ‖NS(M) − U Vᵀ‖_F / ‖U Vᵀ‖_F of one update (see <see cref="Compare"/>).</summary>
    public static double RelativeDifference(ReadOnlySpan<double> matrix, int rows, int cols, int steps = NewtonSchulz.DefaultSteps) =>
        Compare(matrix, rows, cols, steps).RelativeDifference;
}
