namespace ImplicitBias.Flow.Solvers.Exponential;

/// <summary>
/// φ0(Z) … φ3(Z) of a small dense real matrix Z (the exponential stepper's low-rank linear part), from the exponential
/// of the augmented matrix [[Z, I, 0, 0], [0, 0, I, 0], [0, 0, 0, I], [0, 0, 0, 0]], whose first block row is
/// [φ0(Z), φ1(Z), φ2(Z), φ3(Z)] (Sidje, ACM TOMS 24 (1998) 130, Theorem 1; Al-Mohy &amp; Higham, SIAM J. Sci. Comput.
/// 33 (2011) 488, §2). The exponential is a degree-18 Taylor polynomial of M / 2^s, ‖M / 2^s‖₁ ≤ 1/2, squared s times:
/// the truncation error is below 0.5^19/19! ≈ 2e-23 relative, and the functions of one Z commute, as the scalar
/// formulas of <see cref="Phi"/> assume. Matrices are row-major r × r arrays. An instance holds the work space for one
/// r and count, so that a stepper evaluates without allocating.
/// </summary>
public sealed class MatrixPhi
{
    private const int Degree = 18;
    private readonly int _r;
    private readonly int _count;
    private readonly double[] _m;
    private readonly double[] _a;
    private readonly double[] _result;
    private readonly double[] _product;

    /// <summary>Work space for φ0 … φ_{count−1} of r × r matrices.</summary>
    public MatrixPhi(int r, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(r);
        if (count is < 1 or > 4)
        {
            throw new ArgumentOutOfRangeException(nameof(count), "φ0 … φ3: one to four functions.");
        }

        _r = r;
        _count = count;
        int size = count * r * count * r;
        _m = new double[size];
        _a = new double[size];
        _result = new double[size];
        _product = new double[size];
    }

    /// <summary>φ_k(Z) for k = 0 … phi.Length − 1 with fresh work space (see <see cref="Evaluate(ReadOnlySpan{double}, double[][])"/>).</summary>
    public static void EvaluateOnce(ReadOnlySpan<double> z, double[][] phi)
    {
        ArgumentNullException.ThrowIfNull(phi);
        new MatrixPhi((int)Math.Round(Math.Sqrt(z.Length)), phi.Length).Evaluate(z, phi);
    }

    /// <summary>
    /// Writes φ_k(Z) into <paramref name="phi"/>[k] for k = 0 … phi.Length − 1 (at most 4 functions), each an r × r
    /// row-major array, r² = <paramref name="z"/>.Length.
    /// </summary>
    public void Evaluate(ReadOnlySpan<double> z, double[][] phi)
    {
        ArgumentNullException.ThrowIfNull(phi);
        int count = _count;
        int r = _r;
        int length = r * r;
        bool shaped = phi.Length == count && z.Length == length;
        for (int k = 0; shaped && k < count; k++)
        {
            shaped = phi[k] is not null && phi[k].Length == length;
        }

        if (!shaped)
        {
            throw new ArgumentException($"Z and each of the {count} φ_k must be {r} × {r}.", nameof(z));
        }

        if (r == 0)
        {
            return;
        }

        // The augmented matrix of size R = count · r: Z in the first diagonal block, identities on the block
        // superdiagonal. With one function it is Z itself.
        int size = count * r;
        double[] m = _m;
        Array.Clear(m);
        for (int i = 0; i < r; i++)
        {
            z.Slice(i * r, r).CopyTo(m.AsSpan(i * size, r));
        }

        for (int block = 0; block + 1 < count; block++)
        {
            for (int i = 0; i < r; i++)
            {
                m[(((block * r) + i) * size) + ((block + 1) * r) + i] = 1.0;
            }
        }

        double[]? e = Exp(m, size);
        if (e is null)
        {
            foreach (double[] p in phi)
            {
                Array.Fill(p, double.NaN);
            }

            return;
        }

        for (int k = 0; k < count; k++)
        {
            for (int i = 0; i < r; i++)
            {
                e.AsSpan((i * size) + (k * r), r).CopyTo(phi[k].AsSpan(i * r, r));
            }
        }
    }

    /// <summary>e^M for a size × size row-major M, by scaling, Taylor and squaring (null when M is not finite).</summary>
    private double[]? Exp(double[] m, int size)
    {
        double norm = 0;
        for (int j = 0; j < size; j++)
        {
            double column = 0;
            for (int i = 0; i < size; i++)
            {
                column += Math.Abs(m[(i * size) + j]);
            }

            norm = Math.Max(norm, column);
        }

        if (!double.IsFinite(norm))
        {
            return null;
        }

        int s = norm > 0.5 ? (int)Math.Ceiling(Math.Log2(norm / 0.5)) : 0;
        double scale = Math.ScaleB(1.0, -s);
        double[] a = _a;
        for (int i = 0; i < m.Length; i++)
        {
            a[i] = m[i] * scale;
        }

        // Horner: e^A ≈ I + A (I + A/2 (I + A/3 (… (I + A/18)))).
        double[] result = _result;
        double[] product = _product;
        SetIdentity(result, size);
        for (int k = Degree; k >= 1; k--)
        {
            Multiply(a, result, product, size);
            double inverse = 1.0 / k;
            for (int i = 0; i < product.Length; i++)
            {
                result[i] = product[i] * inverse;
            }

            for (int i = 0; i < size; i++)
            {
                result[(i * size) + i] += 1.0;
            }
        }

        for (int q = 0; q < s; q++)
        {
            Multiply(result, result, product, size);
            (result, product) = (product, result);
        }

        return result;
    }

    private static void SetIdentity(double[] a, int size)
    {
        Array.Clear(a);
        for (int i = 0; i < size; i++)
        {
            a[(i * size) + i] = 1.0;
        }
    }

    /// <summary>c ← a b (row-major, size × size; c distinct from a and b).</summary>
    private static void Multiply(double[] a, double[] b, double[] c, int size)
    {
        Array.Clear(c);
        for (int i = 0; i < size; i++)
        {
            Span<double> row = c.AsSpan(i * size, size);
            for (int k = 0; k < size; k++)
            {
                double aik = a[(i * size) + k];
                if (aik == 0)
                {
                    continue;
                }

                ReadOnlySpan<double> bk = b.AsSpan(k * size, size);
                for (int j = 0; j < size; j++)
                {
                    row[j] += aik * bk[j];
                }
            }
        }
    }
}
