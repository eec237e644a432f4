using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ImplicitBias.Flow.Models.Evaluation;

/// <summary>
/// The first layer's weight gradient of a narrow network (width ≤ 20) for one block of 16 samples, read straight
/// from the sample-blocked data the forward pass has just used: ∂W_1ᵀ[f, j] += Σ_q x[q, f] δ_1[q, j]. The data is
/// the broadcast operand (features along the rows, samples along k, read from the layout [feature][16 samples]
/// with stride 16), δ_1 the vector operand (units along the lanes), so the data needs no second, transposed copy
/// and is streamed from memory once per gradient instead of twice (what <see cref="LossEvaluator"/>'s fused pass
/// is for). The units fill 12 lanes (one Vector512 and one Vector256: widths 9–12) or 20 lanes (two Vector512 and
/// one Vector256: widths 13–20); on an AVX-512 core that double-pumps 512-bit operations a Vector256 multiply-add
/// costs half a Vector512 one, so the lanes are not wasted as a 16- or 32-lane tile would waste them at widths
/// 10 and 20. Vector512 only (the evaluator falls back to its two-pass path elsewhere).
/// </summary>
internal static unsafe class NarrowGemm
{
    /// <summary>Samples per call (one sample block of <see cref="PackedGemm"/>'s layout).</summary>
    public const int Samples = PackedGemm.ColumnsPerTile;

    /// <summary>The padded lane count for a layer of <paramref name="width"/> units, or 0 when no kernel fits.</summary>
    public static int Lanes(int width) => width <= 12 ? 12 : width <= 20 ? 20 : 0;

    /// <summary>Feature rows per call for <paramref name="lanes"/> (accumulators: rows × vectors ≤ 24 registers).</summary>
    public static int Rows(int lanes) => lanes == 12 ? 12 : 8;

    /// <summary>
    /// g[r·lanes + u] += Σ_{q&lt;16} x[r·16 + q] · delta[q·lanes + u] for r &lt; <see cref="Rows"/>(lanes), u &lt; lanes.
    /// </summary>
    /// <param name="x">Feature row f0 of a sample block ([feature][16 samples]).</param>
    /// <param name="delta">δ of the block's 16 samples, [sample][lanes] (padding lanes zero).</param>
    /// <param name="g">Rows f0 … of ∂W_1ᵀ, [feature][lanes].</param>
    /// <param name="lanes">12 or 20.</param>
    public static void Accumulate(double* x, double* delta, double* g, int lanes)
    {
        if (lanes == 12)
        {
            Accumulate12(x, delta, g);
        }
        else
        {
            Accumulate20(x, delta, g);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Accumulate12(double* x, double* delta, double* g)
    {
        const int L = 12;
        Vector512<double> z0 = default, z1 = default, z2 = default, z3 = default, z4 = default, z5 = default;
        Vector512<double> z6 = default, z7 = default, z8 = default, z9 = default, z10 = default, z11 = default;
        Vector256<double> y0 = default, y1 = default, y2 = default, y3 = default, y4 = default, y5 = default;
        Vector256<double> y6 = default, y7 = default, y8 = default, y9 = default, y10 = default, y11 = default;
        for (int q = 0; q < Samples; q++)
        {
            Vector512<double> d0 = Vector512.Load(delta + (q * L));
            Vector256<double> d1 = Vector256.Load(delta + (q * L) + 8);
            double* xq = x + q;
            Vector512<double> b = Vector512.Create(xq[0]);
            z0 = Vector512.FusedMultiplyAdd(b, d0, z0);
            y0 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, y0);
            b = Vector512.Create(xq[16]);
            z1 = Vector512.FusedMultiplyAdd(b, d0, z1);
            y1 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, y1);
            b = Vector512.Create(xq[32]);
            z2 = Vector512.FusedMultiplyAdd(b, d0, z2);
            y2 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, y2);
            b = Vector512.Create(xq[48]);
            z3 = Vector512.FusedMultiplyAdd(b, d0, z3);
            y3 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, y3);
            b = Vector512.Create(xq[64]);
            z4 = Vector512.FusedMultiplyAdd(b, d0, z4);
            y4 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, y4);
            b = Vector512.Create(xq[80]);
            z5 = Vector512.FusedMultiplyAdd(b, d0, z5);
            y5 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, y5);
            b = Vector512.Create(xq[96]);
            z6 = Vector512.FusedMultiplyAdd(b, d0, z6);
            y6 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, y6);
            b = Vector512.Create(xq[112]);
            z7 = Vector512.FusedMultiplyAdd(b, d0, z7);
            y7 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, y7);
            b = Vector512.Create(xq[128]);
            z8 = Vector512.FusedMultiplyAdd(b, d0, z8);
            y8 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, y8);
            b = Vector512.Create(xq[144]);
            z9 = Vector512.FusedMultiplyAdd(b, d0, z9);
            y9 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, y9);
            b = Vector512.Create(xq[160]);
            z10 = Vector512.FusedMultiplyAdd(b, d0, z10);
            y10 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, y10);
            b = Vector512.Create(xq[176]);
            z11 = Vector512.FusedMultiplyAdd(b, d0, z11);
            y11 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, y11);
        }

        Add(g, z0, y0); Add(g + L, z1, y1); Add(g + (2 * L), z2, y2); Add(g + (3 * L), z3, y3);
        Add(g + (4 * L), z4, y4); Add(g + (5 * L), z5, y5); Add(g + (6 * L), z6, y6); Add(g + (7 * L), z7, y7);
        Add(g + (8 * L), z8, y8); Add(g + (9 * L), z9, y9); Add(g + (10 * L), z10, y10); Add(g + (11 * L), z11, y11);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Accumulate20(double* x, double* delta, double* g)
    {
        const int L = 20;
        Vector512<double> u0 = default, u1 = default, u2 = default, u3 = default, u4 = default, u5 = default, u6 = default, u7 = default;
        Vector512<double> v0 = default, v1 = default, v2 = default, v3 = default, v4 = default, v5 = default, v6 = default, v7 = default;
        Vector256<double> w0 = default, w1 = default, w2 = default, w3 = default, w4 = default, w5 = default, w6 = default, w7 = default;
        for (int q = 0; q < Samples; q++)
        {
            Vector512<double> d0 = Vector512.Load(delta + (q * L));
            Vector512<double> d1 = Vector512.Load(delta + (q * L) + 8);
            Vector256<double> d2 = Vector256.Load(delta + (q * L) + 16);
            double* xq = x + q;
            Vector512<double> b = Vector512.Create(xq[0]);
            u0 = Vector512.FusedMultiplyAdd(b, d0, u0);
            v0 = Vector512.FusedMultiplyAdd(b, d1, v0);
            w0 = Vector256.FusedMultiplyAdd(b.GetLower(), d2, w0);
            b = Vector512.Create(xq[16]);
            u1 = Vector512.FusedMultiplyAdd(b, d0, u1);
            v1 = Vector512.FusedMultiplyAdd(b, d1, v1);
            w1 = Vector256.FusedMultiplyAdd(b.GetLower(), d2, w1);
            b = Vector512.Create(xq[32]);
            u2 = Vector512.FusedMultiplyAdd(b, d0, u2);
            v2 = Vector512.FusedMultiplyAdd(b, d1, v2);
            w2 = Vector256.FusedMultiplyAdd(b.GetLower(), d2, w2);
            b = Vector512.Create(xq[48]);
            u3 = Vector512.FusedMultiplyAdd(b, d0, u3);
            v3 = Vector512.FusedMultiplyAdd(b, d1, v3);
            w3 = Vector256.FusedMultiplyAdd(b.GetLower(), d2, w3);
            b = Vector512.Create(xq[64]);
            u4 = Vector512.FusedMultiplyAdd(b, d0, u4);
            v4 = Vector512.FusedMultiplyAdd(b, d1, v4);
            w4 = Vector256.FusedMultiplyAdd(b.GetLower(), d2, w4);
            b = Vector512.Create(xq[80]);
            u5 = Vector512.FusedMultiplyAdd(b, d0, u5);
            v5 = Vector512.FusedMultiplyAdd(b, d1, v5);
            w5 = Vector256.FusedMultiplyAdd(b.GetLower(), d2, w5);
            b = Vector512.Create(xq[96]);
            u6 = Vector512.FusedMultiplyAdd(b, d0, u6);
            v6 = Vector512.FusedMultiplyAdd(b, d1, v6);
            w6 = Vector256.FusedMultiplyAdd(b.GetLower(), d2, w6);
            b = Vector512.Create(xq[112]);
            u7 = Vector512.FusedMultiplyAdd(b, d0, u7);
            v7 = Vector512.FusedMultiplyAdd(b, d1, v7);
            w7 = Vector256.FusedMultiplyAdd(b.GetLower(), d2, w7);
        }

        Add(g, u0, v0, w0); Add(g + L, u1, v1, w1); Add(g + (2 * L), u2, v2, w2); Add(g + (3 * L), u3, v3, w3);
        Add(g + (4 * L), u4, v4, w4); Add(g + (5 * L), u5, v5, w5); Add(g + (6 * L), u6, v6, w6); Add(g + (7 * L), u7, v7, w7);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(double* g, Vector512<double> a, Vector256<double> b)
    {
        (Vector512.Load(g) + a).Store(g);
        (Vector256.Load(g + 8) + b).Store(g + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(double* g, Vector512<double> a, Vector512<double> b, Vector256<double> c)
    {
        (Vector512.Load(g) + a).Store(g);
        (Vector512.Load(g + 8) + b).Store(g + 8);
        (Vector256.Load(g + 16) + c).Store(g + 16);
    }
}
