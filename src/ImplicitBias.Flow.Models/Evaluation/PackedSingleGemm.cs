using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ImplicitBias.Flow.Models.Evaluation;

/// <summary>
/// The float32 micro-kernel of the two-pass path's products with the data (Solver:Precision = float32): one
/// <see cref="PackedGemm.RowsPerTile"/> × <see cref="ColumnsPerTile"/> tile of C = A·B from float32 panels,
/// C[r, q] = Σ_p a[p·10 + r] · b[p·32 + q], returned in float64. The layout is <see cref="PackedGemm"/>'s with 32
/// float32 columns in place of 16 float64 ones: the same 128 bytes of the vector operand per k-step, now two
/// Vector512&lt;float&gt; (twice the lanes per fused multiply-add and half the bytes of the data to stream per flop),
/// 20 accumulators. The float32 sums run over at most <see cref="ChunkLength"/> values of p and are then added, in
/// order, to the float64 tile, so only the products and these short sums carry float32 rounding (the fused pass's
/// <see cref="SingleGemm"/> does the same over one block of 16 samples). The order is fixed, so a tile's result does
/// not depend on the thread that computes it. Vector256 (four 5 × 16 quarters) and scalar fallbacks give the same
/// sums up to the order of the float32 additions.
/// </summary>
internal static unsafe class PackedSingleGemm
{
    /// <summary>Columns of a tile (the vector operand's panel width: two Vector512&lt;float&gt;).</summary>
    public const int ColumnsPerTile = 32;

    /// <summary>Values of p summed in float32 before they are added to the float64 tile.</summary>
    public const int ChunkLength = 256;

    private const int Mr = PackedGemm.RowsPerTile;
    private const int Nr = ColumnsPerTile;

    /// <summary>
    /// c[r·32 + q] = Σ_{p&lt;k} a[p·10 + r] · b[p·32 + q] for r &lt; 10, q &lt; 32 (float32 products, float64 tile).
    /// </summary>
    /// <param name="a">Packed A panel: k groups of ten float32 values.</param>
    /// <param name="b">Packed B panel: k groups of 32 float32 values.</param>
    /// <param name="k">The inner dimension.</param>
    /// <param name="c">The 320-value float64 tile, rows of 32.</param>
    public static void Tile(float* a, float* b, int k, double* c)
    {
        new Span<double>(c, Mr * Nr).Clear();
        switch (PackedGemm.Path)
        {
            case GemmKernelPath.Vector512:
                for (int p0 = 0; p0 < k; p0 += ChunkLength)
                {
                    Chunk512(a + ((long)p0 * Mr), b + ((long)p0 * Nr), Math.Min(ChunkLength, k - p0), c);
                }

                break;
            case GemmKernelPath.Vector256:
                for (int p0 = 0; p0 < k; p0 += ChunkLength)
                {
                    int kk = Math.Min(ChunkLength, k - p0);
                    float* ap = a + ((long)p0 * Mr), bp = b + ((long)p0 * Nr);
                    for (int half = 0; half < 2; half++)
                    {
                        Chunk256(ap, bp + (16 * half), kk, c + (16 * half));
                        Chunk256(ap + 5, bp + (16 * half), kk, c + (5 * Nr) + (16 * half));
                    }
                }

                break;
            default:
                ChunksScalar(a, b, k, c);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chunk512(float* a, float* b, int k, double* c)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default;
        for (int p = 0; p < k; p++)
        {
            Vector512<float> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 16);
            Vector512<float> a0 = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            Vector512<float> a1 = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            Vector512<float> a2 = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            Vector512<float> a3 = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            Vector512<float> a4 = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            Vector512<float> a5 = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            Vector512<float> a6 = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(a6, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
            Vector512<float> a7 = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(a7, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
            Vector512<float> a8 = Vector512.Create(a[8]);
            c80 = Vector512.FusedMultiplyAdd(a8, b0, c80);
            c81 = Vector512.FusedMultiplyAdd(a8, b1, c81);
            Vector512<float> a9 = Vector512.Create(a[9]);
            c90 = Vector512.FusedMultiplyAdd(a9, b0, c90);
            c91 = Vector512.FusedMultiplyAdd(a9, b1, c91);
            a += Mr;
            b += Nr;
        }

        Add(c00, c); Add(c01, c + 16); Add(c10, c + 32); Add(c11, c + 48);
        Add(c20, c + 64); Add(c21, c + 80); Add(c30, c + 96); Add(c31, c + 112);
        Add(c40, c + 128); Add(c41, c + 144); Add(c50, c + 160); Add(c51, c + 176);
        Add(c60, c + 192); Add(c61, c + 208); Add(c70, c + 224); Add(c71, c + 240);
        Add(c80, c + 256); Add(c81, c + 272); Add(c90, c + 288); Add(c91, c + 304);
    }

    // Five rows (from a, stride 10) × 16 columns (from b, stride 32) of the tile: 10 accumulators fit the 16 AVX2
    // registers with room for the loads.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chunk256(float* a, float* b, int k, double* c)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default;
        for (int p = 0; p < k; p++)
        {
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8);
            Vector256<float> a0 = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            Vector256<float> a1 = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            Vector256<float> a2 = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            Vector256<float> a3 = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            Vector256<float> a4 = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            a += Mr;
            b += Nr;
        }

        Add(c00, c); Add(c01, c + 8);
        Add(c10, c + Nr); Add(c11, c + Nr + 8);
        Add(c20, c + (2 * Nr)); Add(c21, c + (2 * Nr) + 8);
        Add(c30, c + (3 * Nr)); Add(c31, c + (3 * Nr) + 8);
        Add(c40, c + (4 * Nr)); Add(c41, c + (4 * Nr) + 8);
    }

    private static void ChunksScalar(float* a, float* b, int k, double* c)
    {
        float* sums = stackalloc float[Mr * Nr];
        for (int p0 = 0; p0 < k; p0 += ChunkLength)
        {
            new Span<float>(sums, Mr * Nr).Clear();
            for (int p = p0; p < Math.Min(k, p0 + ChunkLength); p++)
            {
                float* bp = b + ((long)p * Nr);
                for (int r = 0; r < Mr; r++)
                {
                    float ar = a[((long)p * Mr) + r];
                    float* sr = sums + (r * Nr);
                    for (int q = 0; q < Nr; q++)
                    {
                        sr[q] += ar * bp[q];
                    }
                }
            }

            for (int v = 0; v < Mr * Nr; v++)
            {
                c[v] += sums[v];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(Vector512<float> v, double* c)
    {
        (Vector512<double> lower, Vector512<double> upper) = Vector512.Widen(v);
        (Vector512.Load(c) + lower).Store(c);
        (Vector512.Load(c + 8) + upper).Store(c + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(Vector256<float> v, double* c)
    {
        (Vector256<double> lower, Vector256<double> upper) = Vector256.Widen(v);
        (Vector256.Load(c) + lower).Store(c);
        (Vector256.Load(c + 4) + upper).Store(c + 4);
    }
}
