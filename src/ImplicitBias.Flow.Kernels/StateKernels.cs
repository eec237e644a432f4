using ILGPU;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// Element-wise kernels of <see cref="IlgpuStateAlgebra"/>. Per-block coefficients are read from a small
/// table indexed by the block of each element (blockOf), row b holding yScale_b then a_{b,0}, a_{b,1}, ….
/// </summary>
internal static class StateKernels
{
    /// <summary>
    /// dest[i] = yScale_b y[i] + a_{b,column} stage[i], the stage term only when useStage and a_{b,column} ≠ 0
    /// (as the host algebra: a zero coefficient skips its stage in that block). dest may alias y.
    /// </summary>
    public static void CombineFirst(
        Index1D index, ArrayView<double> destination, ArrayView<double> y, ArrayView<double> stage,
        ArrayView<double> coefficients, ArrayView<int> blockOf, int stride, int column, int useStage)
    {
        long row = (long)blockOf[index] * stride;
        double value = coefficients[row] * y[index];
        if (useStage != 0)
        {
            double a = coefficients[row + column];
            if (a != 0.0)
            {
                value += a * stage[index];
            }
        }

        destination[index] = value;
    }

    /// <summary>dest[i] += a_{b,column} stage[i] when a_{b,column} ≠ 0.</summary>
    public static void CombineAdd(
        Index1D index, ArrayView<double> destination, ArrayView<double> stage,
        ArrayView<double> coefficients, ArrayView<int> blockOf, int stride, int column)
    {
        double a = coefficients[((long)blockOf[index] * stride) + column];
        if (a != 0.0)
        {
            destination[index] += a * stage[index];
        }
    }

    /// <summary>scratch[i] = |y[i]|, input of the per-block max reduction (scaled absolute tolerance).</summary>
    public static void Abs(Index1D index, ArrayView<double> y, ArrayView<double> scratch)
    {
        // NaN becomes 0 here: NaN would make ILGPU's compare-exchange atomic max spin forever, and a NaN
        // component is reported by ErrorTerms anyway.
        double v = y[index];
        scratch[index] = double.IsNaN(v) ? 0.0 : (v < 0 ? -v : v);
    }

    /// <summary>
    /// scratch[i] = (e_i / sc_i)² with sc_i = atol_b + rtol_b max(|y0_i|, |y1_i|), atol_b raised to
    /// κ_b · max|y1_b| when κ_b &gt; 0 (blockMax[b]). flags[i] = 1 (and scratch[i] = 0) when an input is not
    /// finite or the term is NaN, so that the caller reports NaN without summing NaN. blockParameters holds
    /// (rtol, atol, κ) per block.
    /// </summary>
    public static void ErrorTerms(
        Index1D index, ArrayView<double> y0, ArrayView<double> y1, ArrayView<double> error,
        ArrayView<int> blockOf, ArrayView<double> blockParameters, ArrayView<double> blockMax, ArrayView<double> scratch,
        ArrayView<double> flags)
    {
        double a = y0[index];
        double b = y1[index];
        double e = error[index];
        if (!IsFinite(a) || !IsFinite(b) || !IsFinite(e))
        {
            scratch[index] = 0.0;
            flags[index] = 1.0;
            return;
        }

        int block = blockOf[index];
        double rtol = blockParameters[3 * block];
        double atol = blockParameters[(3 * block) + 1];
        double kappa = blockParameters[(3 * block) + 2];
        if (kappa > 0)
        {
            double scaled = kappa * blockMax[block];
            atol = scaled > atol ? scaled : atol;
        }

        double absA = a < 0 ? -a : a;
        double absB = b < 0 ? -b : b;
        double sc = atol + (rtol * (absA > absB ? absA : absB));
        double r = e / sc;
        double term = r * r;
        // A NaN term (0/0 when a tolerance is zero) is flagged rather than summed: see Abs.
        bool nan = double.IsNaN(term);
        scratch[index] = nan ? 0.0 : term;
        flags[index] = nan ? 1.0 : 0.0;
    }

    /// <summary>scratch[i] = 1 when y[i] is NaN or ±∞, else 0 (input of a max reduction).</summary>
    public static void NonFiniteFlags(Index1D index, ArrayView<double> y, ArrayView<double> scratch)
    {
        scratch[index] = IsFinite(y[index]) ? 0.0 : 1.0;
    }

    private static bool IsFinite(double v) => !double.IsNaN(v) && !double.IsInfinity(v);
}
