using ILGPU;
using ImplicitBias.Flow.Flows.Field;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// The kernels of <see cref="DeviceFieldPrimitives"/>: the element-wise maps, run for any operator struct of the Flows
/// project (<see cref="IElementwise"/>, <see cref="IElementwise2"/>: the directions and the m̃/ṽ sources of
/// docs/mathematics.md §2 are such operators, the same code as on the host), a fill, and the inputs of the reductions.
/// </summary>
internal static class FlowKernels
{
    /// <summary>d[i] = op(x[i]); d may be x.</summary>
    public static void Map<TOp>(Index1D i, ArrayView<double> x, ArrayView<double> d, TOp op)
        where TOp : struct, IElementwise => d[i] = op.Invoke(x[i]);

    /// <summary>d[i] = op(x[i], y[i]); d may be x or y.</summary>
    public static void Map2<TOp>(Index1D i, ArrayView<double> x, ArrayView<double> y, ArrayView<double> d, TOp op)
        where TOp : struct, IElementwise2 => d[i] = op.Invoke(x[i], y[i]);

    /// <summary>d[i] = value (clearing a direction, writing a scalar, or NaN for a source that is not finite).</summary>
    public static void Fill(Index1D i, ArrayView<double> d, double value) => d[i] = value;

    /// <summary>
    /// terms[i] = |s[i]|, input of a max reduction. NaN becomes +∞: ILGPU's atomic max spins forever on NaN
    /// (README), and +∞ leads to the same outcome as the host's NaN (δ or the max not finite, or not zero).
    /// </summary>
    public static void AbsoluteValue(Index1D i, ArrayView<double> s, ArrayView<double> terms)
    {
        double x = s[i];
        terms[i] = double.IsNaN(x) ? double.PositiveInfinity : (x < 0 ? -x : x);
    }

    /// <summary>terms[i] = s[i]², input of a sum reduction; NaN becomes +∞ (see <see cref="AbsoluteValue"/>).</summary>
    public static void Square(Index1D i, ArrayView<double> s, ArrayView<double> terms)
    {
        double x = s[i];
        terms[i] = double.IsNaN(x) ? double.PositiveInfinity : x * x;
    }

    /// <summary>
    /// terms[i] = a[i] b[i] and flags[i] = 0, or terms[i] = 0 and flags[i] = 1 when the product is not finite or
    /// exceeds 1e300 in magnitude. Products of either sign are summed, so a NaN or opposite infinities could
    /// otherwise arise inside ILGPU's atomic add and hang it; below 1e300 no partial sum of fewer than 1e8 terms
    /// can overflow.
    /// </summary>
    public static void DotTerms(Index1D i, ArrayView<double> a, ArrayView<double> b, ArrayView<double> terms, ArrayView<double> flags)
    {
        double p = a[i] * b[i];
        bool bad = !(p <= 1e300 && p >= -1e300);
        terms[i] = bad ? 0.0 : p;
        flags[i] = bad ? 1.0 : 0.0;
    }
}
