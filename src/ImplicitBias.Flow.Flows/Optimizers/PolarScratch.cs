using ImplicitBias.Flow.Core.Parameters;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Flows.Optimizers;

/// <summary>
/// Exact U Vᵀ (the polar factor of the reduced SVD) of each parameter block, the Muon / SpectralGD direction
/// (SPEC §2). The output row is a 1 × k matrix, whose U Vᵀ is u/‖u‖₂ (Sec. 6). Holds one MathNet matrix per
/// block so the input copy does not allocate; MathNet's SVD allocates its factors per call.
/// </summary>
internal sealed class PolarScratch
{
    private readonly ParameterLayout _layout;
    private readonly Matrix<double>?[] _matrices;

    public PolarScratch(ParameterLayout layout)
    {
        _layout = layout;
        _matrices = layout.Blocks.Select(b => b.IsMatrix ? Matrix<double>.Build.Dense(b.Rows, b.Cols) : null).ToArray();
    }

    /// <summary>output ← U Vᵀ of block <paramref name="block"/>'s matrix <paramref name="source"/> (row-major); 0 for a zero matrix.</summary>
    public void Compute(int block, ReadOnlySpan<double> source, Span<double> output)
    {
        ParameterBlock shape = _layout.Blocks[block];
        Matrix<double>? a = _matrices[block];
        if (a is null || shape.Rows == 1 || shape.Cols == 1)
        {
            Directions.NormalizedL2(source, output);
            return;
        }

        bool any = false;
        for (int r = 0; r < shape.Rows; r++)
        {
            for (int c = 0; c < shape.Cols; c++)
            {
                double x = source[(r * shape.Cols) + c];
                a[r, c] = x;
                any |= x != 0;
            }
        }

        if (!any)
        {
            output.Clear();
            return;
        }

        var svd = a.Svd(computeVectors: true);
        int k = Math.Min(shape.Rows, shape.Cols);
        Matrix<double> u = svd.U;
        Matrix<double> vt = svd.VT;
        double top = svd.S[0];
        output.Clear();
        for (int j = 0; j < k; j++)
        {
            // Singular values at round-off level carry no direction; keeping them would add noise of norm 1.
            if (svd.S[j] <= top * 1e-14)
            {
                break;
            }

            for (int r = 0; r < shape.Rows; r++)
            {
                double ur = u[r, j];
                int row = r * shape.Cols;
                for (int c = 0; c < shape.Cols; c++)
                {
                    output[row + c] += ur * vt[j, c];
                }
            }
        }
    }
}
