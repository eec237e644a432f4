namespace ImplicitBias.Flow.Models.Losses;

/// <summary>
/// Accurate log1p and expm1. .NET's <c>double.LogP1</c>/<c>double.ExpM1</c> are computed as log(1 + x) and
/// exp(x) − 1, which lose all digits for tiny x; the loss, φ and φ⁻¹ (SPEC §1) need them near 0.
/// </summary>
public static class StableMath
{
    /// <summary>log(1 + x), accurate for tiny x (Kahan's trick: log(u)·x/(u − 1) with u = fl(1 + x)).</summary>
    public static double Log1P(double x)
    {
        double u = 1.0 + x;
        if (u == 1.0)
        {
            return x;
        }

        if (double.IsPositiveInfinity(u))
        {
            return Math.Log(x);
        }

        return Math.Log(u) * x / (u - 1.0);
    }

    /// <summary>e^x − 1, accurate for tiny x (Kahan's trick: (u − 1)·x/log(u) with u = fl(e^x)).</summary>
    public static double ExpM1(double x)
    {
        if (x > 700)
        {
            return Math.Exp(x);
        }

        double u = Math.Exp(x);
        if (u == 1.0)
        {
            return x;
        }

        double um1 = u - 1.0;
        if (um1 == -1.0)
        {
            return -1.0;
        }

        return um1 * x / Math.Log(u);
    }
}
