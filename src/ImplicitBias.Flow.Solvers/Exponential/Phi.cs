namespace ImplicitBias.Flow.Solvers.Exponential;

/// <summary>
/// The φ-functions of exponential integrators, φ0(z) = e^z, φ_{k+1}(z) = (φ_k(z) − 1/k!)/z (Hochbruck &amp; Ostermann,
/// Acta Numerica 19 (2010) 209–286, §2), for real z ≤ 0 (z = −c h).
/// </summary>
public static class Phi
{
    private const int MaxOrder = 3;

    /// <summary>Writes φ0(z) … φ_{n−1}(z) into <paramref name="phi"/> (n ≤ 4).</summary>
    public static void Evaluate(double z, Span<double> phi)
    {
        int n = phi.Length;
        if (n > MaxOrder + 1)
        {
            throw new ArgumentOutOfRangeException(nameof(phi), "At most φ0 … φ3 are provided.");
        }

        if (Math.Abs(z) < 0.5)
        {
            // The recurrence cancels catastrophically for small |z|; the Taylor series φ_k(z) = Σ z^m/(m+k)!
            // converges fast there (|z|^m/(m+k)! < 1e-17 by m = 16).
            for (int k = 0; k < n; k++)
            {
                double term = 1.0;
                for (int j = 2; j <= k; j++)
                {
                    term /= j;
                }

                double sum = term;
                for (int m = 1; m <= 18; m++)
                {
                    term *= z / (m + k);
                    sum += term;
                }

                phi[k] = sum;
            }

            return;
        }

        phi[0] = Math.Exp(z);
        double factorial = 1.0;
        for (int k = 0; k + 1 < n; k++)
        {
            phi[k + 1] = (phi[k] - (1.0 / factorial)) / z;
            factorial *= k + 1;
        }
    }
}
