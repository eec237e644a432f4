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

    /// <summary>
    /// Four dot products sharing one vector: out[r] = ⟨w_r, x⟩ for rows w_r = w[(r·n)..] (r = 0…3), n = x.Length.
    /// Loads x once per chunk for four fused multiply-adds (register blocking).
    /// </summary>
    public static void Dot4(ReadOnlySpan<double> w, ReadOnlySpan<double> x, Span<double> output)
    {
        int n = x.Length;
        if (w.Length < 4 * n || output.Length < 4)
        {
            throw new ArgumentException("Need four rows and four outputs.", nameof(w));
        }

        ref double rw = ref MemoryMarshal.GetReference(w);
        ref double rx = ref MemoryMarshal.GetReference(x);
        int vw = Vector<double>.Count, k = 0;
        var a0 = Vector<double>.Zero;
        var a1 = Vector<double>.Zero;
        var a2 = Vector<double>.Zero;
        var a3 = Vector<double>.Zero;
        for (; k <= n - vw; k += vw)
        {
            var xv = Vector.LoadUnsafe(ref rx, (nuint)k);
            a0 += Vector.LoadUnsafe(ref rw, (nuint)k) * xv;
            a1 += Vector.LoadUnsafe(ref rw, (nuint)(n + k)) * xv;
            a2 += Vector.LoadUnsafe(ref rw, (nuint)(2 * n + k)) * xv;
            a3 += Vector.LoadUnsafe(ref rw, (nuint)(3 * n + k)) * xv;
        }

        double s0 = Vector.Sum(a0), s1 = Vector.Sum(a1), s2 = Vector.Sum(a2), s3 = Vector.Sum(a3);
        for (; k < n; k++)
        {
            double xk = Unsafe.Add(ref rx, k);
            s0 += Unsafe.Add(ref rw, k) * xk;
            s1 += Unsafe.Add(ref rw, n + k) * xk;
            s2 += Unsafe.Add(ref rw, 2 * n + k) * xk;
            s3 += Unsafe.Add(ref rw, 3 * n + k) * xk;
        }

        output[0] = s0;
        output[1] = s1;
        output[2] = s2;
        output[3] = s3;
    }

    /// <summary>
    /// Rank-update of four rows over a tile of samples: g_r += Σ_i c[i·stride + r] a_i for r = 0…3, where the four
    /// rows of g are g[(r·n)..] and a_i = a[(i·n)..], i = 0…count−1, n = row length. Each chunk of the four
    /// rows stays in registers across the whole tile (one load of a_i feeds four fused multiply-adds).
    /// </summary>
    public static void RankUpdate4(ReadOnlySpan<double> c, int stride, ReadOnlySpan<double> a, int count, Span<double> g)
    {
        int n = g.Length / 4;
        if (a.Length < count * n || c.Length < (count - 1) * stride + 4)
        {
            throw new ArgumentException("Spans too short for the tile.", nameof(a));
        }

        ref double rc = ref MemoryMarshal.GetReference(c);
        ref double ra = ref MemoryMarshal.GetReference(a);
        ref double rg = ref MemoryMarshal.GetReference(g);
        int vw = Vector<double>.Count, k = 0;
        for (; k <= n - vw; k += vw)
        {
            var g0 = Vector.LoadUnsafe(ref rg, (nuint)k);
            var g1 = Vector.LoadUnsafe(ref rg, (nuint)(n + k));
            var g2 = Vector.LoadUnsafe(ref rg, (nuint)(2 * n + k));
            var g3 = Vector.LoadUnsafe(ref rg, (nuint)(3 * n + k));
            for (int i = 0; i < count; i++)
            {
                var av = Vector.LoadUnsafe(ref ra, (nuint)(i * n + k));
                int ci = i * stride;
                g0 += new Vector<double>(Unsafe.Add(ref rc, ci)) * av;
                g1 += new Vector<double>(Unsafe.Add(ref rc, ci + 1)) * av;
                g2 += new Vector<double>(Unsafe.Add(ref rc, ci + 2)) * av;
                g3 += new Vector<double>(Unsafe.Add(ref rc, ci + 3)) * av;
            }

            g0.StoreUnsafe(ref rg, (nuint)k);
            g1.StoreUnsafe(ref rg, (nuint)(n + k));
            g2.StoreUnsafe(ref rg, (nuint)(2 * n + k));
            g3.StoreUnsafe(ref rg, (nuint)(3 * n + k));
        }

        for (; k < n; k++)
        {
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int i = 0; i < count; i++)
            {
                double ak = Unsafe.Add(ref ra, i * n + k);
                int ci = i * stride;
                s0 += Unsafe.Add(ref rc, ci) * ak;
                s1 += Unsafe.Add(ref rc, ci + 1) * ak;
                s2 += Unsafe.Add(ref rc, ci + 2) * ak;
                s3 += Unsafe.Add(ref rc, ci + 3) * ak;
            }

            Unsafe.Add(ref rg, k) += s0;
            Unsafe.Add(ref rg, n + k) += s1;
            Unsafe.Add(ref rg, 2 * n + k) += s2;
            Unsafe.Add(ref rg, 3 * n + k) += s3;
        }
    }
}
