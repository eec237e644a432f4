using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ImplicitBias.Flow.Models.Evaluation;

/// <summary>Which instruction set the GEMM micro-kernel runs on.</summary>
public enum GemmKernelPath
{
    /// <summary>Plain scalar loops (any machine).</summary>
    Scalar,

    /// <summary>Vector256 fused multiply-adds (AVX2 + FMA or equivalent): a 5 × 8 tile at a time, 10 accumulators.</summary>
    Vector256,

    /// <summary>Vector512 fused multiply-adds (AVX-512): the whole 5 × 32 tile in 20 accumulators.</summary>
    Vector512,
}

/// <summary>
/// The register-blocked micro-kernel behind <see cref="LossEvaluator"/> and <see cref="SquareGemm"/>: one
/// <see cref="RowsPerTile"/> × <see cref="ColumnsPerTile"/> tile of C = A·B from packed panels,
/// C[r, q] = Σ_p a[p·5 + r] · b[p·32 + q], p = 0 … k−1. Both panels are read as contiguous streams (the packing
/// puts each k-step's five A values and 32 B values side by side), every B vector feeds five fused
/// multiply-adds and every broadcast A value four, so the loop is bound by the FMA units rather than by loads.
/// The evaluator lays its samples along the 32 columns (m is large at every width), so the widths the flows use
/// (10, 20, 100) are whole multiples of the five rows and nothing is wasted on padding. The summation over p is
/// in order, so a tile's result does not depend on which thread computes it.
/// </summary>
public static unsafe class PackedGemm
{
    /// <summary>Rows of a tile (the broadcast operand's panel width).</summary>
    public const int RowsPerTile = 5;

    /// <summary>Columns of a tile (the vector operand's panel width: four Vector512 or eight Vector256).</summary>
    public const int ColumnsPerTile = 32;

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
    /// c[r·32 + q] = Σ_{p&lt;k} a[p·5 + r] · b[p·32 + q] for r &lt; 5, q &lt; 32 (c is overwritten).
    /// </summary>
    /// <param name="a">Packed A panel: k groups of five values.</param>
    /// <param name="b">Packed B panel: k groups of 32 values.</param>
    /// <param name="k">The inner dimension.</param>
    /// <param name="c">The 160-value tile.</param>
    public static void Tile(double* a, double* b, int k, double* c)
    {
        switch (Path)
        {
            case GemmKernelPath.Vector512:
                Tile512(a, b, k, c);
                break;
            case GemmKernelPath.Vector256:
                for (int quarter = 0; quarter < 4; quarter++)
                {
                    Tile256(a, b + (8 * quarter), k, c + (8 * quarter));
                }

                break;
            default:
                TileScalar(a, b, k, c);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile512(double* a, double* b, int k, double* c)
    {
        Vector512<double> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<double> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<double> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<double> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<double> c40 = default, c41 = default, c42 = default, c43 = default;
        for (int p = 0; p < k; p++)
        {
            Vector512<double> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 8), b2 = Vector512.Load(b + 16), b3 = Vector512.Load(b + 24);
            Vector512<double> a0 = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(a0, b2, c02);
            c03 = Vector512.FusedMultiplyAdd(a0, b3, c03);
            Vector512<double> a1 = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(a1, b2, c12);
            c13 = Vector512.FusedMultiplyAdd(a1, b3, c13);
            Vector512<double> a2 = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(a2, b2, c22);
            c23 = Vector512.FusedMultiplyAdd(a2, b3, c23);
            Vector512<double> a3 = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(a3, b2, c32);
            c33 = Vector512.FusedMultiplyAdd(a3, b3, c33);
            Vector512<double> a4 = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            c42 = Vector512.FusedMultiplyAdd(a4, b2, c42);
            c43 = Vector512.FusedMultiplyAdd(a4, b3, c43);
            a += RowsPerTile;
            b += ColumnsPerTile;
        }

        c00.Store(c); c01.Store(c + 8); c02.Store(c + 16); c03.Store(c + 24);
        c10.Store(c + 32); c11.Store(c + 40); c12.Store(c + 48); c13.Store(c + 56);
        c20.Store(c + 64); c21.Store(c + 72); c22.Store(c + 80); c23.Store(c + 88);
        c30.Store(c + 96); c31.Store(c + 104); c32.Store(c + 112); c33.Store(c + 120);
        c40.Store(c + 128); c41.Store(c + 136); c42.Store(c + 144); c43.Store(c + 152);
    }

    // Eight columns (two Vector256) of the tile: 10 accumulators fit the 16 AVX2 registers with room for loads.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile256(double* a, double* b, int k, double* c)
    {
        Vector256<double> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<double> c30 = default, c31 = default, c40 = default, c41 = default;
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
        c10.Store(c + 32); c11.Store(c + 36);
        c20.Store(c + 64); c21.Store(c + 68);
        c30.Store(c + 96); c31.Store(c + 100);
        c40.Store(c + 128); c41.Store(c + 132);
    }

    private static void TileScalar(double* a, double* b, int k, double* c)
    {
        new Span<double>(c, RowsPerTile * ColumnsPerTile).Clear();
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
