using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ImplicitBias.Flow.Models.Evaluation;

/// <summary>Which instruction set the GEMM micro-kernel runs on.</summary>
public enum GemmKernelPath
{
    /// <summary>Plain scalar loops (any machine).</summary>
    Scalar,

    /// <summary>Vector256 fused multiply-adds (AVX2 + FMA or equivalent): a 5 × 8 quarter of the tile at a time, 10 accumulators.</summary>
    Vector256,

    /// <summary>Vector512 fused multiply-adds (AVX-512): the whole 10 × 16 tile in 20 accumulators.</summary>
    Vector512,
}

/// <summary>
/// The register-blocked micro-kernel behind <see cref="LossEvaluator"/> and <see cref="SquareGemm"/>: one
/// <see cref="RowsPerTile"/> × <see cref="ColumnsPerTile"/> tile of C = A·B from packed panels,
/// C[r, q] = Σ_p a[p·10 + r] · b[p·16 + q], p = 0 … k−1. Both panels are read as contiguous streams (the packing
/// puts each k-step's ten A values and 16 B values side by side), every B vector feeds ten fused
/// multiply-adds and every broadcast A value two, so the loop is bound by the FMA units rather than by loads,
/// and each byte of the vector operand (the data X in the evaluator) feeds ten multiply-adds, which keeps narrow
/// layers (width 10) from being bound by memory bandwidth. (Measured on a 2-core AVX-512 EPYC: 10 × 16 beat
/// 5 × 32 at every width, most at width 10: 1.9 against 2.4 CPU-ms per gradient at m = 2048, d = 784.)
/// The evaluator lays its samples along the 16 columns (m is large at every width), so the widths the flows use
/// (10, 20, 100) are whole multiples of the ten rows and nothing is wasted on padding. The summation over p is
/// in order, so a tile's result does not depend on which thread computes it.
/// </summary>
public static unsafe class PackedGemm
{
    /// <summary>Rows of a tile (the broadcast operand's panel width).</summary>
    public const int RowsPerTile = 10;

    /// <summary>Columns of a tile (the vector operand's panel width: two Vector512 or four Vector256).</summary>
    public const int ColumnsPerTile = 16;

    private static GemmKernelPath? _forced;

    /// <summary>The path this machine runs (the widest one its hardware accelerates).</summary>
    public static GemmKernelPath HardwarePath { get; } =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? GemmKernelPath.Vector512
        : Vector256.IsHardwareAccelerated && Fma.IsSupported ? GemmKernelPath.Vector256
        : GemmKernelPath.Scalar;

    /// <summary>The path in use: <see cref="HardwarePath"/> unless a test forced a narrower one.</summary>
    public static GemmKernelPath Path => _forced ?? HardwarePath;

    /// <summary>
    /// Forces a kernel path (tests of the fallbacks); null restores <see cref="HardwarePath"/>. A path wider than
    /// the hardware's is refused.
    /// </summary>
    internal static void Force(GemmKernelPath? path)
    {
        if (path is { } p && p > HardwarePath)
        {
            throw new PlatformNotSupportedException($"This machine runs at most the {HardwarePath} kernel.");
        }

        _forced = path;
    }

    /// <summary>
    /// c[r·16 + q] (+)= Σ_{p&lt;k} a[p·10 + r] · b[p·16 + q] for r &lt; 10, q &lt; 16.
    /// </summary>
    /// <param name="a">Packed A panel: k groups of ten values.</param>
    /// <param name="b">Packed B panel: k groups of 16 values.</param>
    /// <param name="k">The inner dimension.</param>
    /// <param name="c">The 160-value tile, rows of 16.</param>
    /// <param name="accumulate">Add to c instead of overwriting it.</param>
    public static void Tile(double* a, double* b, int k, double* c, bool accumulate = false)
    {
        switch (Path)
        {
            case GemmKernelPath.Vector512:
                Tile512(a, b, k, c, accumulate);
                break;
            case GemmKernelPath.Vector256:
                for (int half = 0; half < 2; half++)
                {
                    Tile256(a, b + (8 * half), k, c + (8 * half), accumulate);
                    Tile256(a + 5, b + (8 * half), k, c + (5 * ColumnsPerTile) + (8 * half), accumulate);
                }

                break;
            default:
                TileScalar(a, b, k, c, accumulate);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile512(double* a, double* b, int k, double* c, bool accumulate)
    {
        Vector512<double> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<double> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<double> c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        Vector512<double> c90 = default, c91 = default;
        if (accumulate)
        {
            c00 = Vector512.Load(c); c01 = Vector512.Load(c + 8); c10 = Vector512.Load(c + 16); c11 = Vector512.Load(c + 24);
            c20 = Vector512.Load(c + 32); c21 = Vector512.Load(c + 40); c30 = Vector512.Load(c + 48); c31 = Vector512.Load(c + 56);
            c40 = Vector512.Load(c + 64); c41 = Vector512.Load(c + 72); c50 = Vector512.Load(c + 80); c51 = Vector512.Load(c + 88);
            c60 = Vector512.Load(c + 96); c61 = Vector512.Load(c + 104); c70 = Vector512.Load(c + 112); c71 = Vector512.Load(c + 120);
            c80 = Vector512.Load(c + 128); c81 = Vector512.Load(c + 136); c90 = Vector512.Load(c + 144); c91 = Vector512.Load(c + 152);
        }
        for (int p = 0; p < k; p++)
        {
            Vector512<double> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 8);
            Vector512<double> a0 = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            Vector512<double> a1 = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            Vector512<double> a2 = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            Vector512<double> a3 = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            Vector512<double> a4 = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            Vector512<double> a5 = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            Vector512<double> a6 = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(a6, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
            Vector512<double> a7 = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(a7, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
            Vector512<double> a8 = Vector512.Create(a[8]);
            c80 = Vector512.FusedMultiplyAdd(a8, b0, c80);
            c81 = Vector512.FusedMultiplyAdd(a8, b1, c81);
            Vector512<double> a9 = Vector512.Create(a[9]);
            c90 = Vector512.FusedMultiplyAdd(a9, b0, c90);
            c91 = Vector512.FusedMultiplyAdd(a9, b1, c91);
            a += RowsPerTile;
            b += ColumnsPerTile;
        }

        c00.Store(c); c01.Store(c + 8); c10.Store(c + 16); c11.Store(c + 24);
        c20.Store(c + 32); c21.Store(c + 40); c30.Store(c + 48); c31.Store(c + 56);
        c40.Store(c + 64); c41.Store(c + 72); c50.Store(c + 80); c51.Store(c + 88);
        c60.Store(c + 96); c61.Store(c + 104); c70.Store(c + 112); c71.Store(c + 120);
        c80.Store(c + 128); c81.Store(c + 136); c90.Store(c + 144); c91.Store(c + 152);
    }

    // Five rows (from a, stride 10) × eight columns (from b, stride 16) of the tile: 10 accumulators fit the 16
    // AVX2 registers with room for the loads.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile256(double* a, double* b, int k, double* c, bool accumulate)
    {
        Vector256<double> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<double> c30 = default, c31 = default, c40 = default, c41 = default;
        const int row = ColumnsPerTile;
        if (accumulate)
        {
            c00 = Vector256.Load(c); c01 = Vector256.Load(c + 4);
            c10 = Vector256.Load(c + row); c11 = Vector256.Load(c + row + 4);
            c20 = Vector256.Load(c + (2 * row)); c21 = Vector256.Load(c + (2 * row) + 4);
            c30 = Vector256.Load(c + (3 * row)); c31 = Vector256.Load(c + (3 * row) + 4);
            c40 = Vector256.Load(c + (4 * row)); c41 = Vector256.Load(c + (4 * row) + 4);
        }
        for (int p = 0; p < k; p++)
        {
            Vector256<double> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 4);
            Vector256<double> a0 = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            Vector256<double> a1 = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            Vector256<double> a2 = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            Vector256<double> a3 = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            Vector256<double> a4 = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            a += RowsPerTile;
            b += ColumnsPerTile;
        }

        c00.Store(c); c01.Store(c + 4);
        c10.Store(c + row); c11.Store(c + row + 4);
        c20.Store(c + (2 * row)); c21.Store(c + (2 * row) + 4);
        c30.Store(c + (3 * row)); c31.Store(c + (3 * row) + 4);
        c40.Store(c + (4 * row)); c41.Store(c + (4 * row) + 4);
    }

    private static void TileScalar(double* a, double* b, int k, double* c, bool accumulate)
    {
        if (!accumulate)
        {
            new Span<double>(c, RowsPerTile * ColumnsPerTile).Clear();
        }

        for (int p = 0; p < k; p++)
        {
            double* bp = b + (p * ColumnsPerTile);
            for (int r = 0; r < RowsPerTile; r++)
            {
                double ar = a[(p * RowsPerTile) + r];
                double* cr = c + (r * ColumnsPerTile);
                for (int q = 0; q < ColumnsPerTile; q++)
                {
                    cr[q] += ar * bp[q];
                }
            }
        }
    }
}
