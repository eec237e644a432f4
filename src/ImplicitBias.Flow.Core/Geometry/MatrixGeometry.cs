using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;

namespace ImplicitBias.Flow.Core.Geometry;

/// <summary>
/// SVD-based helpers on row-major matrices held in spans: the polar factor U Vᵀ used by exact Muon
/// (Definition C.26), singular values, and the top singular pair.
/// </summary>
/// <remarks>
/// Each call copies the span into a MathNet matrix and factors it with MathNet's managed SVD, so it
/// allocates O(rows·cols + min(rows, cols)²) doubles: the input copy, and for a non-square matrix a thin
/// QR (Q: max×min, R: min×min) that reduces the SVD to the min×min triangle, then its U, S, Vᵀ. A 1×k or
/// k×1 matrix (the output row of the network) takes a closed form and allocates nothing.
/// </remarks>
public static class MatrixGeometry
{
    /// <summary>
    /// Writes the polar factor U Vᵀ of the reduced SVD G = U Σ Vᵀ of the row-major
    /// <paramref name="rows"/>×<paramref name="cols"/> matrix <paramref name="g"/> into
    /// <paramref name="output"/>. Singular values at or below max(rows, cols)·ε_machine·σ_max are treated as
    /// zero (their directions are left out, as in the reduced SVD); G = 0 gives 0. For a single row or column
    /// the result is g/‖g‖₂ ("treating the output layer as a matrix with a single row", SPEC §2).
    /// </summary>
    public static void PolarFactor(int rows, int cols, ReadOnlySpan<double> g, Span<double> output)
    {
        CheckShape(rows, cols, g.Length, output.Length);
        if (rows == 1 || cols == 1)
        {
            L2Norm.Instance.SteepestDirection(g, output);
            return;
        }

        Matrix<double> a = ToMatrix(rows, cols, g);
        if (rows == cols)
        {
            WriteRowMajor(PolarOfSquare(a), output);
        }
        else if (rows > cols)
        {
            // G = Q R with Q (rows×cols) orthonormal columns: polar(G) = Q · polar(R).
            QR<double> qr = a.QR(QRMethod.Thin);
            WriteRowMajor(qr.Q * PolarOfSquare(qr.R), output);
        }
        else
        {
            // Gᵀ = Q R, so G = Rᵀ Qᵀ and polar(G) = polar(Rᵀ) · Qᵀ.
            QR<double> qr = a.Transpose().QR(QRMethod.Thin);
            WriteRowMajor(PolarOfSquare(qr.R.Transpose()).TransposeAndMultiply(qr.Q), output);
        }
    }

    /// <summary>The singular values of the row-major matrix, in decreasing order (min(rows, cols) of them).</summary>
    public static double[] SingularValues(int rows, int cols, ReadOnlySpan<double> g)
    {
        CheckShape(rows, cols, g.Length, g.Length);
        if (rows == 1 || cols == 1)
        {
            return [L2Norm.Euclidean(g)];
        }

        return ToMatrix(rows, cols, g).Svd(computeVectors: false).S.ToArray();
    }

    /// <summary>
    /// The full SVD of the row-major matrix as (U: rows×rows, σ, Vᵀ: cols×cols) MathNet objects; the
    /// analysis layer uses it for subgradients of the spectral norm (all top singular pairs).
    /// </summary>
    public static Svd<double> Svd(int rows, int cols, ReadOnlySpan<double> g)
    {
        CheckShape(rows, cols, g.Length, g.Length);
        return ToMatrix(rows, cols, g).Svd(computeVectors: true);
    }

    /// <summary>
    /// Writes u₁v₁ᵀ for a top singular pair of G (so ⟨u₁v₁ᵀ, G⟩ = ‖G‖sp and ‖u₁v₁ᵀ‖nuc = 1), or 0 if G = 0.
    /// </summary>
    public static void TopSingularOuter(int rows, int cols, ReadOnlySpan<double> g, Span<double> output)
    {
        CheckShape(rows, cols, g.Length, output.Length);
        if (rows == 1 || cols == 1)
        {
            L2Norm.Instance.SteepestDirection(g, output);
            return;
        }

        Svd<double> svd = Svd(rows, cols, g);
        if (svd.S[0] == 0)
        {
            output.Clear();
            return;
        }

        for (int i = 0; i < rows; i++)
        {
            double ui = svd.U[i, 0];
            for (int j = 0; j < cols; j++)
            {
                output[(i * cols) + j] = ui * svd.VT[0, j];
            }
        }
    }

    private static Matrix<double> PolarOfSquare(Matrix<double> a)
    {
        Svd<double> svd = a.Svd(computeVectors: true);
        int n = a.RowCount;
        double cutoff = n * 2.220446049250313e-16 * svd.S[0];
        Matrix<double> p = Matrix<double>.Build.Dense(n, n);
        for (int k = 0; k < n; k++)
        {
            if (svd.S[k] <= cutoff || svd.S[k] == 0)
            {
                break;
            }

            for (int i = 0; i < n; i++)
            {
                double ui = svd.U[i, k];
                for (int j = 0; j < n; j++)
                {
                    p[i, j] += ui * svd.VT[k, j];
                }
            }
        }

        return p;
    }

    private static Matrix<double> ToMatrix(int rows, int cols, ReadOnlySpan<double> g)
    {
        Matrix<double> a = Matrix<double>.Build.Dense(rows, cols);
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                a[i, j] = g[(i * cols) + j];
            }
        }

        return a;
    }

    private static void WriteRowMajor(Matrix<double> a, Span<double> output)
    {
        int cols = a.ColumnCount;
        for (int i = 0; i < a.RowCount; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                output[(i * cols) + j] = a[i, j];
            }
        }
    }

    private static void CheckShape(int rows, int cols, int inputLength, int outputLength)
    {
        if (rows <= 0 || cols <= 0 || inputLength != rows * cols || outputLength != rows * cols)
        {
            throw new ArgumentException($"Expected a {rows}×{cols} matrix ({rows * cols} values), got input {inputLength} and output {outputLength}.");
        }
    }
}

/// <summary>The spectral norm ‖W‖sp (largest singular value) of one row-major matrix; dual: nuclear.</summary>
public sealed class SpectralNorm : Norm
{
    /// <summary>Creates the spectral norm of <paramref name="rows"/>×<paramref name="cols"/> matrices.</summary>
    public SpectralNorm(int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        Rows = rows;
        Cols = cols;
    }

    /// <summary>Number of rows.</summary>
    public int Rows { get; }

    /// <summary>Number of columns.</summary>
    public int Cols { get; }

    /// <inheritdoc/>
    public override string Name => "sp";

    /// <inheritdoc/>
    public override Norm Dual => new NuclearNorm(Rows, Cols);

    /// <inheritdoc/>
    public override double Value(ReadOnlySpan<double> x) => MatrixGeometry.SingularValues(Rows, Cols, x)[0];

    /// <summary>The polar factor U Vᵀ: spectral norm 1 and ⟨U Vᵀ, G⟩ = ‖G‖nuc (Definition C.25).</summary>
    public override void SteepestDirection(ReadOnlySpan<double> g, Span<double> u) => MatrixGeometry.PolarFactor(Rows, Cols, g, u);
}

/// <summary>The nuclear norm ‖W‖nuc (sum of singular values) of one row-major matrix; dual: spectral.</summary>
public sealed class NuclearNorm : Norm
{
    /// <summary>Creates the nuclear norm of <paramref name="rows"/>×<paramref name="cols"/> matrices.</summary>
    public NuclearNorm(int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        Rows = rows;
        Cols = cols;
    }

    /// <summary>Number of rows.</summary>
    public int Rows { get; }

    /// <summary>Number of columns.</summary>
    public int Cols { get; }

    /// <inheritdoc/>
    public override string Name => "nuc";

    /// <inheritdoc/>
    public override Norm Dual => new SpectralNorm(Rows, Cols);

    /// <inheritdoc/>
    public override double Value(ReadOnlySpan<double> x) => MatrixGeometry.SingularValues(Rows, Cols, x).Sum();

    /// <summary>u₁v₁ᵀ of a top singular pair: nuclear norm 1 and ⟨u₁v₁ᵀ, G⟩ = ‖G‖sp.</summary>
    public override void SteepestDirection(ReadOnlySpan<double> g, Span<double> u) => MatrixGeometry.TopSingularOuter(Rows, Cols, g, u);
}
