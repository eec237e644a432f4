using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ImplicitBias.Flow.Models.Evaluation;

/// <summary>
/// The two products with the data of the fused pass in float32 (Solver:Precision = float32): z_1ᵀ = W_1 x for a block
/// of 16 samples (one Vector512&lt;float&gt; per unit) and ∂W_1ᵀ[f, j] += Σ_q x[q, f] δ_1[q, j]. The data is kept as
/// float32 in the same sample-blocked layout as the float64 copy ([block][feature][16 samples]), half the bytes to
/// stream and twice the lanes per instruction. Products are accumulated in float32 over one block (a sum of d terms
/// forward, of 16 terms backward) and handed back as float64: the block's z_1 is widened before the activation,
/// the ∂W_1 rows are added to the chunk's float64 sums, so only these two products carry float32 rounding.
/// </summary>
internal static unsafe class SingleGemm
{
    /// <summary>
    /// Units per forward call for a first layer of <paramref name="width"/> units ≤ 20 (W_1 is packed in groups of
    /// this many rows, padding rows zero): one call covers the layer, so a block's data is read once.
    /// </summary>
    public static int Units(int width) => width <= 10 ? 10 : 20;

    /// <summary>Feature rows per ∂W_1 call.</summary>
    public const int Rows = 8;

    /// <summary>The padded lane count of ∂W_1 rows for a first layer of <paramref name="width"/> units (≤ 20).</summary>
    /// <remarks>Widths 17–20 take one Vector512 and one Vector256 (24 lanes), not two Vector512: on cores that
    /// double-pump 512-bit operations the Vector256 costs half, so fewer lanes are wasted.</remarks>
    public static int Lanes(int width) => width <= 16 ? 16 : 24;

    /// <summary>
    /// z[k·16 + q] = Σ_f w[f·units + k] · x[f·16 + q] for k &lt; units (10 or 20), q &lt; 16, widened to float64
    /// into <paramref name="z"/> (units rows of 16).
    /// </summary>
    public static void Forward(float* x, float* w, int d, double* z, int units)
    {
        if (units == 10)
        {
            Forward10(x, w, d, z);
        }
        else
        {
            Forward20(x, w, d, z);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Forward10(float* x, float* w, int d, double* z)
    {
        const int Units = 10;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default;
        Vector512<float> a5 = default, a6 = default, a7 = default, a8 = default, a9 = default;
        for (int f = 0; f < d; f++)
        {
            Vector512<float> v = Vector512.Load(x + (f * 16));
            float* wf = w + (f * Units);
            a0 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[0]), v, a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[1]), v, a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[2]), v, a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[3]), v, a3);
            a4 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[4]), v, a4);
            a5 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[5]), v, a5);
            a6 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[6]), v, a6);
            a7 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[7]), v, a7);
            a8 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[8]), v, a8);
            a9 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[9]), v, a9);
        }

        Widen(a0, z); Widen(a1, z + 16); Widen(a2, z + 32); Widen(a3, z + 48); Widen(a4, z + 64);
        Widen(a5, z + 80); Widen(a6, z + 96); Widen(a7, z + 112); Widen(a8, z + 128); Widen(a9, z + 144);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Forward20(float* x, float* w, int d, double* z)
    {
        const int Units = 20;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default;
        Vector512<float> a5 = default, a6 = default, a7 = default, a8 = default, a9 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default;
        Vector512<float> b5 = default, b6 = default, b7 = default, b8 = default, b9 = default;
        for (int f = 0; f < d; f++)
        {
            Vector512<float> v = Vector512.Load(x + (f * 16));
            float* wf = w + (f * Units);
            a0 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[0]), v, a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[1]), v, a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[2]), v, a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[3]), v, a3);
            a4 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[4]), v, a4);
            a5 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[5]), v, a5);
            a6 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[6]), v, a6);
            a7 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[7]), v, a7);
            a8 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[8]), v, a8);
            a9 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[9]), v, a9);
            b0 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[10]), v, b0);
            b1 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[11]), v, b1);
            b2 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[12]), v, b2);
            b3 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[13]), v, b3);
            b4 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[14]), v, b4);
            b5 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[15]), v, b5);
            b6 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[16]), v, b6);
            b7 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[17]), v, b7);
            b8 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[18]), v, b8);
            b9 = Vector512.FusedMultiplyAdd(Vector512.Create(wf[19]), v, b9);
        }

        Widen(a0, z); Widen(a1, z + 16); Widen(a2, z + 32); Widen(a3, z + 48); Widen(a4, z + 64);
        Widen(a5, z + 80); Widen(a6, z + 96); Widen(a7, z + 112); Widen(a8, z + 128); Widen(a9, z + 144);
        Widen(b0, z + 160); Widen(b1, z + 176); Widen(b2, z + 192); Widen(b3, z + 208); Widen(b4, z + 224);
        Widen(b5, z + 240); Widen(b6, z + 256); Widen(b7, z + 272); Widen(b8, z + 288); Widen(b9, z + 304);
    }

    /// <summary>
    /// g[r·lanes + u] += Σ_{q&lt;16} x[r·16 + q] · delta[q·lanes + u] for r &lt; <see cref="Rows"/>, u &lt; lanes
    /// (16 or 24); the float32 sums of the block are added to the float64 rows of g.
    /// </summary>
    public static void Accumulate(float* x, float* delta, double* g, int lanes)
    {
        if (lanes == 16)
        {
            Accumulate16(x, delta, g);
        }
        else
        {
            Accumulate24(x, delta, g);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Accumulate16(float* x, float* delta, double* g)
    {
        Vector512<float> u0 = default, u1 = default, u2 = default, u3 = default, u4 = default, u5 = default, u6 = default, u7 = default;
        for (int q = 0; q < 16; q++)
        {
            Vector512<float> d0 = Vector512.Load(delta + (q * 16));
            float* xq = x + q;
            u0 = Vector512.FusedMultiplyAdd(Vector512.Create(xq[0]), d0, u0);
            u1 = Vector512.FusedMultiplyAdd(Vector512.Create(xq[16]), d0, u1);
            u2 = Vector512.FusedMultiplyAdd(Vector512.Create(xq[32]), d0, u2);
            u3 = Vector512.FusedMultiplyAdd(Vector512.Create(xq[48]), d0, u3);
            u4 = Vector512.FusedMultiplyAdd(Vector512.Create(xq[64]), d0, u4);
            u5 = Vector512.FusedMultiplyAdd(Vector512.Create(xq[80]), d0, u5);
            u6 = Vector512.FusedMultiplyAdd(Vector512.Create(xq[96]), d0, u6);
            u7 = Vector512.FusedMultiplyAdd(Vector512.Create(xq[112]), d0, u7);
        }

        Add(u0, g); Add(u1, g + 16); Add(u2, g + 32); Add(u3, g + 48);
        Add(u4, g + 64); Add(u5, g + 80); Add(u6, g + 96); Add(u7, g + 112);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Accumulate24(float* x, float* delta, double* g)
    {
        const int L = 24;
        Vector512<float> u0 = default, u1 = default, u2 = default, u3 = default, u4 = default, u5 = default, u6 = default, u7 = default;
        Vector256<float> v0 = default, v1 = default, v2 = default, v3 = default, v4 = default, v5 = default, v6 = default, v7 = default;
        for (int q = 0; q < 16; q++)
        {
            Vector512<float> d0 = Vector512.Load(delta + (q * L));
            Vector256<float> d1 = Vector256.Load(delta + (q * L) + 16);
            float* xq = x + q;
            Vector512<float> b = Vector512.Create(xq[0]);
            u0 = Vector512.FusedMultiplyAdd(b, d0, u0);
            v0 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, v0);
            b = Vector512.Create(xq[16]);
            u1 = Vector512.FusedMultiplyAdd(b, d0, u1);
            v1 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, v1);
            b = Vector512.Create(xq[32]);
            u2 = Vector512.FusedMultiplyAdd(b, d0, u2);
            v2 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, v2);
            b = Vector512.Create(xq[48]);
            u3 = Vector512.FusedMultiplyAdd(b, d0, u3);
            v3 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, v3);
            b = Vector512.Create(xq[64]);
            u4 = Vector512.FusedMultiplyAdd(b, d0, u4);
            v4 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, v4);
            b = Vector512.Create(xq[80]);
            u5 = Vector512.FusedMultiplyAdd(b, d0, u5);
            v5 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, v5);
            b = Vector512.Create(xq[96]);
            u6 = Vector512.FusedMultiplyAdd(b, d0, u6);
            v6 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, v6);
            b = Vector512.Create(xq[112]);
            u7 = Vector512.FusedMultiplyAdd(b, d0, u7);
            v7 = Vector256.FusedMultiplyAdd(b.GetLower(), d1, v7);
        }

        Add(u0, g); Add(v0, g + 16); Add(u1, g + L); Add(v1, g + L + 16);
        Add(u2, g + (2 * L)); Add(v2, g + (2 * L) + 16); Add(u3, g + (3 * L)); Add(v3, g + (3 * L) + 16);
        Add(u4, g + (4 * L)); Add(v4, g + (4 * L) + 16); Add(u5, g + (5 * L)); Add(v5, g + (5 * L) + 16);
        Add(u6, g + (6 * L)); Add(v6, g + (6 * L) + 16); Add(u7, g + (7 * L)); Add(v7, g + (7 * L) + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Widen(Vector512<float> v, double* target)
    {
        (Vector512<double> lower, Vector512<double> upper) = Vector512.Widen(v);
        lower.Store(target);
        upper.Store(target + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(Vector256<float> v, double* g)
    {
        (Vector256<double> lower, Vector256<double> upper) = Vector256.Widen(v);
        (Vector256.Load(g) + lower).Store(g);
        (Vector256.Load(g + 4) + upper).Store(g + 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(Vector512<float> v, double* g)
    {
        (Vector512<double> lower, Vector512<double> upper) = Vector512.Widen(v);
        (Vector512.Load(g) + lower).Store(g);
        (Vector512.Load(g + 8) + upper).Store(g + 8);
    }
}
