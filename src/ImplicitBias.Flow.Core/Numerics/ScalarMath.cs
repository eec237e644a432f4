namespace ImplicitBias.Flow.Core.Numerics;

/// <summary>
/// Scalar functions that .NET lacks in accurate form: <c>double.ExpM1</c> and <c>double.LogP1</c> are
/// computed as exp(x) − 1 and log(1 + x), which lose every digit for tiny x. These use Kahan's
/// compensations (Goldberg, "What every computer scientist should know…", Thm 4), accurate to a few ulp.
/// </summary>
public static class ScalarMath
{
    /// <summary>e^x − 1, accurate for small |x|.</summary>
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
        if (um1 == -1.0 || double.IsInfinity(u))
        {
            return um1;
        }

        return um1 * x / Math.Log(u);
    }

    /// <summary>log(1 + x), accurate for small |x|.</summary>
    public static double Log1P(double x)
    {
        double u = 1.0 + x;
        if (u == 1.0)
        {
            return x;
        }

        if (double.IsPositiveInfinity(u))
        {
            // 1 + x overflowed, so x is huge and log(1 + x) = log(x) to double precision.
            return Math.Log(x);
        }

        return Math.Log(u) * x / (u - 1.0);
    }
}
