using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ImplicitBias.Flow.Models.Evaluation;

/// <summary>
/// Small SIMD kernels on spans (System.Numerics.Vector&lt;double&gt; with a scalar tail), used by the evaluator.
/// </summary>
public static class Simd
{
    /// <summary>⟨a, b⟩.</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException("Lengths differ.", nameof(b));
        }

        ref double ra = ref MemoryMarshal.GetReference(a);
        ref double rb = ref MemoryMarshal.GetReference(b);
        int n = a.Length, w = Vector<double>.Count, k = 0;
        var acc0 = Vector<double>.Zero;
        var acc1 = Vector<double>.Zero;
        for (; k <= n - 2 * w; k += 2 * w)
        {
            acc0 += Vector.LoadUnsafe(ref ra, (nuint)k) * Vector.LoadUnsafe(ref rb, (nuint)k);
            acc1 += Vector.LoadUnsafe(ref ra, (nuint)(k + w)) * Vector.LoadUnsafe(ref rb, (nuint)(k + w));
        }

        double s = Vector.Sum(acc0 + acc1);
        for (; k < n; k++)
        {
            s += Unsafe.Add(ref ra, k) * Unsafe.Add(ref rb, k);
        }

        return s;
    }

    /// <summary>y += α x.</summary>
    public static void Axpy(double alpha, ReadOnlySpan<double> x, Span<double> y)
    {
        if (x.Length != y.Length)
        {
            throw new ArgumentException("Lengths differ.", nameof(y));
        }

        ref double rx = ref MemoryMarshal.GetReference(x);
        ref double ry = ref MemoryMarshal.GetReference(y);
        int n = x.Length, w = Vector<double>.Count, k = 0;
        var va = new Vector<double>(alpha);
        for (; k <= n - w; k += w)
        {
            (Vector.LoadUnsafe(ref ry, (nuint)k) + va * Vector.LoadUnsafe(ref rx, (nuint)k)).StoreUnsafe(ref ry, (nuint)k);
        }

        for (; k < n; k++)
        {
            Unsafe.Add(ref ry, k) += alpha * Unsafe.Add(ref rx, k);
        }
    }

    /// <summary>y = α x.</summary>
    public static void Scale(ReadOnlySpan<double> x, double alpha, Span<double> y)
    {
        if (x.Length != y.Length)
        {
            throw new ArgumentException("Lengths differ.", nameof(y));
        }

        for (int k = 0; k < x.Length; k++)
        {
            y[k] = alpha * x[k];
        }
    }
}
