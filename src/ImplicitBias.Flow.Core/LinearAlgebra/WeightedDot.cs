using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ImplicitBias.Flow.Core.LinearAlgebra;

/// <summary>
/// Σ_i w_i x_i y_i, the inner product in the error weights Ω² = diag(w) that the Krylov methods orthogonalize in
/// (Arnoldi, the Rosenbrock-W matrix's Gram matrices and projections). One streaming pass over three vectors: with four
/// independent accumulators of Vector512 (or Vector256) lanes it runs at memory speed, where a scalar sum waits on the
/// latency of each addition. The lanes and accumulators sum in a fixed order, so the result does not depend on the
/// machine beyond its vector width.
/// </summary>
public static class WeightedDot
{
    /// <summary>Σ_i w_i x_i y_i over spans of equal length (w_i x_i first, then times y_i, as the scalar form).</summary>
    public static double Compute(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> w)
    {
        if (x.Length != y.Length || x.Length != w.Length)
        {
            throw new ArgumentException($"x, y and w have {x.Length}, {y.Length} and {w.Length} values.", nameof(w));
        }

        int n = x.Length, i = 0;
        ref double rx = ref MemoryMarshal.GetReference(x);
        ref double ry = ref MemoryMarshal.GetReference(y);
        ref double rw = ref MemoryMarshal.GetReference(w);
        double sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 4 * Vector512<double>.Count)
        {
            Vector512<double> a0 = Vector512<double>.Zero, a1 = a0, a2 = a0, a3 = a0;
            int width = Vector512<double>.Count;
            for (; i <= n - (4 * width); i += 4 * width)
            {
                a0 += Vector512.LoadUnsafe(ref rw, (nuint)i) * Vector512.LoadUnsafe(ref rx, (nuint)i) * Vector512.LoadUnsafe(ref ry, (nuint)i);
                a1 += Vector512.LoadUnsafe(ref rw, (nuint)(i + width)) * Vector512.LoadUnsafe(ref rx, (nuint)(i + width)) * Vector512.LoadUnsafe(ref ry, (nuint)(i + width));
                a2 += Vector512.LoadUnsafe(ref rw, (nuint)(i + (2 * width))) * Vector512.LoadUnsafe(ref rx, (nuint)(i + (2 * width))) * Vector512.LoadUnsafe(ref ry, (nuint)(i + (2 * width)));
                a3 += Vector512.LoadUnsafe(ref rw, (nuint)(i + (3 * width))) * Vector512.LoadUnsafe(ref rx, (nuint)(i + (3 * width))) * Vector512.LoadUnsafe(ref ry, (nuint)(i + (3 * width)));
            }

            sum = Vector512.Sum((a0 + a1) + (a2 + a3));
        }
        else if (Vector256.IsHardwareAccelerated && n >= 4 * Vector256<double>.Count)
        {
            Vector256<double> a0 = Vector256<double>.Zero, a1 = a0, a2 = a0, a3 = a0;
            int width = Vector256<double>.Count;
            for (; i <= n - (4 * width); i += 4 * width)
            {
                a0 += Vector256.LoadUnsafe(ref rw, (nuint)i) * Vector256.LoadUnsafe(ref rx, (nuint)i) * Vector256.LoadUnsafe(ref ry, (nuint)i);
                a1 += Vector256.LoadUnsafe(ref rw, (nuint)(i + width)) * Vector256.LoadUnsafe(ref rx, (nuint)(i + width)) * Vector256.LoadUnsafe(ref ry, (nuint)(i + width));
                a2 += Vector256.LoadUnsafe(ref rw, (nuint)(i + (2 * width))) * Vector256.LoadUnsafe(ref rx, (nuint)(i + (2 * width))) * Vector256.LoadUnsafe(ref ry, (nuint)(i + (2 * width)));
                a3 += Vector256.LoadUnsafe(ref rw, (nuint)(i + (3 * width))) * Vector256.LoadUnsafe(ref rx, (nuint)(i + (3 * width))) * Vector256.LoadUnsafe(ref ry, (nuint)(i + (3 * width)));
            }

            sum = Vector256.Sum((a0 + a1) + (a2 + a3));
        }

        for (; i < n; i++)
        {
            sum += Unsafe.Add(ref rw, i) * Unsafe.Add(ref rx, i) * Unsafe.Add(ref ry, i);
        }

        return sum;
    }
}
