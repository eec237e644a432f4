using System.Numerics.Tensors;

namespace ImplicitBias.Flow.Core.LinearAlgebra;

/// <summary>
/// Products of two sets of long vectors (Lᵀ Ω² R, and combinations R C), a chunk of the vectors at a time: the chunks
/// of every vector stay in cache while all the pairs are formed, where whole vectors (some 125 KB each on MNIST) would
/// be streamed from memory once per pair. Each entry is summed over the chunks in order, and the work is split into
/// fixed parts, so the result does not depend on the number of cores.
/// </summary>
public static class BlockProducts
{
    /// <summary>The chunk length: 512 values, 4 KB per vector, so a hundred vectors' chunks fit in the second-level cache.</summary>
    public const int Chunk = 512;

    private static readonly ParallelOptions Options = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    /// <summary>
    /// result[i, j] = Σ_k w_k left_i[k] right_j[k] (w: <paramref name="weights"/>, all ones when empty), for
    /// i &lt; <paramref name="rows"/>, j &lt; <paramref name="columns"/>, over the coordinates
    /// [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>) (all of them when length is −1).
    /// With <paramref name="symmetric"/> (left and right the same vectors) only j ≤ i is summed and mirrored, so the
    /// result is exactly symmetric, for half the work.
    /// </summary>
    public static void Dots(ReadOnlySpan<double[]> left, int rows, ReadOnlySpan<double[]> right, int columns, double[] weights, double[,] result, int offset = 0, int length = -1, bool symmetric = false)
    {
        ArgumentNullException.ThrowIfNull(result);
        double[][] l = left[..rows].ToArray(), r = right[..columns].ToArray();
        int end = rows == 0 ? 0 : length < 0 ? l[0].Length : offset + length;
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < columns; j++)
            {
                result[i, j] = 0;
            }
        }

        // Fixed parts by rows (two, whatever the cores), each summing its rows over all chunks in order.
        const int Parts = 2;
        Parallel.For(0, Parts, Options, p =>
        {
            // Symmetric: row i has i + 1 products, so the rows are split at rows·√(p/Parts) to share the work evenly.
            int from = symmetric ? (int)Math.Round(rows * Math.Sqrt((double)p / Parts)) : rows * p / Parts;
            int to = symmetric ? (p == Parts - 1 ? rows : (int)Math.Round(rows * Math.Sqrt((double)(p + 1) / Parts))) : rows * (p + 1) / Parts;
            for (int start = offset; start < end; start += Chunk)
            {
                int size = Math.Min(Chunk, end - start);
                for (int i = from; i < to; i++)
                {
                    ReadOnlySpan<double> li = l[i].AsSpan(start, size);
                    int last = symmetric ? Math.Min(i + 1, columns) : columns;
                    for (int j = 0; j < last; j++)
                    {
                        ReadOnlySpan<double> rj = r[j].AsSpan(start, size);
                        result[i, j] += weights is { Length: > 0 } ? WeightedDot.Compute(li, rj, weights.AsSpan(start, size)) : TensorPrimitives.Dot(li, rj);
                    }
                }
            }
        });

        if (symmetric)
        {
            for (int i = 0; i < rows; i++)
            {
                for (int j = i + 1; j < columns; j++)
                {
                    result[i, j] = result[j, i];
                }
            }
        }
    }

    /// <summary>
    /// output_j ← Σ_i coefficients[i, j] basis_i (or output_j += … when <paramref name="accumulate"/>), for
    /// i &lt; <paramref name="count"/>, j &lt; <paramref name="outputs"/>.Length; the terms added in i order.
    /// </summary>
    public static void Combine(ReadOnlySpan<double[]> basis, int count, double[,] coefficients, ReadOnlySpan<double[]> outputs, bool accumulate)
    {
        ArgumentNullException.ThrowIfNull(coefficients);
        double[][] b = basis[..count].ToArray(), o = outputs.ToArray();
        int n = o.Length > 0 ? o[0].Length : 0;
        int chunks = (n + Chunk - 1) / Chunk;
        Parallel.For(0, chunks, Options, c =>
        {
            int start = c * Chunk, length = Math.Min(Chunk, n - start);
            for (int j = 0; j < o.Length; j++)
            {
                Span<double> target = o[j].AsSpan(start, length);
                if (!accumulate)
                {
                    target.Clear();
                }

                for (int i = 0; i < count; i++)
                {
                    double a = coefficients[i, j];
                    if (a != 0)
                    {
                        TensorPrimitives.MultiplyAdd(b[i].AsSpan(start, length), a, target, target);
                    }
                }
            }
        });
    }
}
