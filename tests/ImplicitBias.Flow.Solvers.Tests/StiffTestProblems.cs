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

    /// <summary>The dimension of <see cref="DriftingStiffModes"/>.</summary>
    public const int DriftingSize = 100;

    /// <summary>
    /// N(t, y) = a(t) F(y), a(t) = (1 + t)^−0.8 like η(t), with F_i = −d_i (y_i − sin(i + y_99 / 2)) + 0.1 sin(y_{i+1})
    /// for i &lt; 99 (d_i = 1e3 (1 + i mod 10) where i mod 5 = 0, twenty stiff modes up to 9e3, else i + 1) and
    /// F_99 = 1: a slow coordinate moves the stiff modes' equilibria and with them the Jacobian's last column, so a W
    /// built at one point goes stale along the path, the shape of a flow whose sharp directions turn as θ moves.
    /// </summary>
    public static void DriftingStiffModes(double t, ReadOnlySpan<double> y, Span<double> f)
    {
        double a = Math.Pow(1 + t, -0.8);
        for (int i = 0; i < DriftingSize - 1; i++)
        {
            double d = i % 5 == 0 ? 1e3 * (1 + (i % 10)) : i + 1;
            f[i] = a * ((-d * (y[i] - Math.Sin(i + (0.5 * y[DriftingSize - 1])))) + (0.1 * Math.Sin(y[i + 1])));
        }

        f[DriftingSize - 1] = a;
    }

    /// <summary>∂N/∂t = (a′/a) N of <see cref="DriftingStiffModes"/>, in closed form as the flows give it.</summary>
    public static void DriftingStiffModesTimeDerivative(double t, ReadOnlySpan<double> y, ReadOnlySpan<double> n, Span<double> d)
    {
        double rate = -0.8 / (1 + t);
        for (int i = 0; i < n.Length; i++)
        {
            d[i] = rate * n[i];
        }
    }

    /// <summary>y_i(0) = sin i, off the slow manifold in the stiff coordinate.</summary>
    public static double[] Start(int size = Size) => Enumerable.Range(0, size).Select(i => Math.Sin(i)).ToArray();
}
