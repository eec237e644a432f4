using ILGPU;
using ILGPU.Runtime;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// The polar factor U Vᵀ (reduced SVD A = U S Vᵀ) of a rows × cols matrix held in device memory, the
/// Muon / SpectralGD direction (docs/mathematics.md §2). This is the documented host fallback: the matrix is copied to the
/// host, factored exactly by MathNet's SVD, and U Vᵀ is copied back. It costs one round trip per matrix per
/// step, small next to the gradient for the paper's shapes (k × d with k, d ≤ a few hundred); a device
/// Newton–Schulz iteration would avoid the transfer but is not exact. A 1 × k (or k × 1) matrix gives
/// a/‖a‖₂; a zero matrix gives zero. MathNet's SVD allocates its factors per call.
/// </summary>
public sealed class DevicePolarFactor
{
    private readonly double[] _host;
    private readonly double[] _result;
    private readonly Matrix<double> _matrix;

    /// <summary>Prepares host scratch for rows × cols matrices.</summary>
    public DevicePolarFactor(int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        Rows = rows;
        Cols = cols;
        _host = new double[rows * cols];
        _result = new double[rows * cols];
        _matrix = Matrix<double>.Build.Dense(rows, cols);
    }

    /// <summary>Number of rows.</summary>
    public int Rows { get; }

    /// <summary>Number of columns.</summary>
    public int Cols { get; }

    /// <summary>destination ← U Vᵀ of source (both row-major, device memory; they may be the same view).</summary>
    public void Compute(ArrayView<double> source, ArrayView<double> destination)
    {
        if (source.Length != _host.Length || destination.Length != _host.Length)
        {
            throw new ArgumentException($"Both views need {Rows}×{Cols} = {_host.Length} entries.");
        }

        source.CopyToCPU(_host.AsSpan());
        ComputeOnHost(_host, _result);
        destination.CopyFromCPU(_result.AsSpan());
    }

    /// <summary>destination ← U Vᵀ of source, both row-major host spans of Rows × Cols entries.</summary>
    public void ComputeOnHost(ReadOnlySpan<double> source, Span<double> destination)
    {
        if (source.Length != _host.Length || destination.Length != _host.Length)
        {
            throw new ArgumentException($"Both spans need {Rows}×{Cols} = {_host.Length} entries.");
        }

        double norm2 = 0;
        foreach (double x in source)
        {
            norm2 += x * x;
        }

        if (norm2 == 0)
        {
            destination.Clear();
            return;
        }

        if (Rows == 1 || Cols == 1)
        {
            double scale = 1 / Math.Sqrt(norm2);
            for (int i = 0; i < source.Length; i++)
            {
                destination[i] = source[i] * scale;
            }

            return;
        }

        for (int r = 0; r < Rows; r++)
        {
            for (int c = 0; c < Cols; c++)
            {
                _matrix[r, c] = source[(r * Cols) + c];
            }
        }

        var svd = _matrix.Svd(computeVectors: true);
        int k = Math.Min(Rows, Cols);
        double top = svd.S[0];
        destination.Clear();
        for (int j = 0; j < k; j++)
        {
            // Singular values at round-off level carry no direction (same cut as the host flows).
            if (svd.S[j] <= top * 1e-14)
            {
                break;
            }

            for (int r = 0; r < Rows; r++)
            {
                double ur = svd.U[r, j];
                for (int c = 0; c < Cols; c++)
                {
                    destination[(r * Cols) + c] += ur * svd.VT[j, c];
                }
            }
        }
    }
}
