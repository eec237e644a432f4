namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>Stiff problems shared by the tests of the steppers that take sharp directions out of the step limit.</summary>
internal static class StiffTestProblems
{
    /// <summary>The dimension of <see cref="OneStiffModeInN"/>.</summary>
    public const int Size = 50;

    /// <summary>
    /// y_i' = −d_i (y_i − sin(t + i)) + 0.1 sin(y_{i+1}), i = 0 … 49, d_i = i + 1 except d_7 = 1e4: one stiff decaying
    /// mode in N (not in a layout's decay) beside a slow, weakly coupled, smoothly forced rest — the shape of a gradient
    /// flow with one sharp direction.
    /// </summary>
    public static readonly HostRhs OneStiffModeInN = (t, y, f) =>
    {
        for (int i = 0; i < Size; i++)
        {
            double d = i == 7 ? 1e4 : i + 1;
            f[i] = (-d * (y[i] - Math.Sin(t + i))) + (0.1 * Math.Sin(y[(i + 1) % Size]));
        }
    };

    /// <summary>
    /// As <see cref="OneStiffModeInN"/> but with eight stiff modes, d_i = 1e3 · 2^k at i = 3 + 6k (k = 0 … 7, up to
    /// 1.28e5): more sharp directions than a small Krylov space started from f holds, the shape of NGD's stiff spectrum.
    /// </summary>
    public static readonly HostRhs EightStiffModesInN = (t, y, f) =>
    {
        for (int i = 0; i < Size; i++)
        {
            double d = (i % 6 == 3 && i < 48) ? 1e3 * Math.Pow(2, (i - 3) / 6) : i + 1;
            f[i] = (-d * (y[i] - Math.Sin(t + i))) + (0.1 * Math.Sin(y[(i + 1) % Size]));
        }
    };

    /// <summary>y_i(0) = sin i, off the slow manifold in the stiff coordinate.</summary>
    public static double[] Start(int size = Size) => Enumerable.Range(0, size).Select(i => Math.Sin(i)).ToArray();
}
