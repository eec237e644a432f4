using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;

namespace ImplicitBias.Flow.Core.Geometry;

/// <summary>
/// SVD-based helpers on row-major matrices held in spans: the polar factor U Vᵀ used by exact Muon
/// (Definition C.26), singular values, and the top singular pair.
/// </summary>
/// <remarks>
/// <see cref="PolarFactor"/> reuses a per-thread, per-shape <see cref="PolarFactorWorkspace"/> (allocated
/// once, O(rows·cols + min(rows, cols)²) doubles); a 1×k or k×1 matrix (the output row of the network) takes a
/// closed form and allocates nothing. The other helpers copy the span into a MathNet matrix and allocate
/// the SVD factors (full U and Vᵀ for <see cref="Svd"/>); they serve norms and the analysis layer.
/// </remarks>
public static class MatrixGeometry
{
    // Workspaces cached per thread and per shape, so that Muon on a network with several matrix shapes
    // reuses one workspace per block shape.
    [ThreadStatic]
    private static Dictionary<(int Rows, int Cols), PolarFactorWorkspace>? _workspaces;

    /// <summary>
    /// Writes the polar factor U Vᵀ of the reduced SVD G = U Σ Vᵀ of the row-major
    /// <paramref name="rows"/>×<paramref name="cols"/> matrix <paramref name="g"/> into
    /// <paramref name="output"/>. Singular values at or below max(rows, cols)·ε_machine·σ_max are treated as
    /// zero (their directions are left out, as in the reduced SVD); G = 0 gives 0. For a single row or column
    /// the result is g/‖g‖₂ ("treating the output layer as a matrix with a single row", docs/mathematics.md §2).
    /// </summary>
    public static void PolarFactor(int rows, int cols, ReadOnlySpan<double> g, Span<double> output)
    {
        CheckShape(rows, cols, g.Length, output.Length);
        if (rows == 1 || cols == 1)
        {
            L2Norm.Instance.SteepestDirection(g, output);
            return;
        }

        Workspace(rows, cols).Compute(g, output);
    }

    /// <summary>The singular values of the row-major matrix, in decreasing order (min(rows, cols) of them).</summary>
    public static double[] SingularValues(int rows, int cols, ReadOnlySpan<double> g)
    {
        CheckShape(rows, cols, g.Length, g.Length);
        if (rows == 1 || cols == 1)
        {
            return [L2Norm.Euclidean(g)];
        }

        var values = new double[Math.Min(rows, cols)];
        Workspace(rows, cols).SingularValues(g, values);
        return values;
    }

    /// <summary>The largest singular value ‖G‖sp of the row-major matrix (see <see cref="PolarFactorWorkspace.SingularValues"/>).</summary>
    public static double LargestSingularValue(int rows, int cols, ReadOnlySpan<double> g)
    {
        CheckShape(rows, cols, g.Length, g.Length);
        if (rows == 1 || cols == 1)
        {
            return L2Norm.Euclidean(g);
        }

        PolarFactorWorkspace workspace = Workspace(rows, cols);
        Span<double> values = workspace.SingularValueBuffer;
        workspace.SingularValues(g, values, largestOnly: true);
        return values[0];
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

    private static PolarFactorWorkspace Workspace(int rows, int cols)
    {
        _workspaces ??= [];
        if (!_workspaces.TryGetValue((rows, cols), out PolarFactorWorkspace? ws))
        {
            ws = new PolarFactorWorkspace(rows, cols);
            _workspaces[(rows, cols)] = ws;
        }

        return ws;
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

    private static void CheckShape(int rows, int cols, int inputLength, int outputLength)
    {
        if (rows <= 0 || cols <= 0 || inputLength != rows * cols || outputLength != rows * cols)
        {
            throw new ArgumentException($"Expected a {rows}×{cols} matrix ({rows * cols} values), got input {inputLength} and output {outputLength}.");
        }
    }
}

/// <summary>A norm of row-major matrices of one shape (the spectral / nuclear dual pair).</summary>
public abstract class MatrixNorm : Norm
{
    /// <summary>Fixes the shape of the matrices the norm measures.</summary>
    protected MatrixNorm(int rows, int cols)
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
}

/// <summary>The spectral norm ‖W‖sp (largest singular value) of one row-major matrix; dual: nuclear.</summary>
public sealed class SpectralNorm : MatrixNorm
{
    /// <summary>Creates the spectral norm of <paramref name="rows"/>×<paramref name="cols"/> matrices.</summary>
    public SpectralNorm(int rows, int cols)
        : base(rows, cols)
    {
    }

    /// <inheritdoc/>
    public override string Name => "sp";

    /// <inheritdoc/>
    public override Norm Dual => _dual ??= new NuclearNorm(Rows, Cols);

    private NuclearNorm? _dual;

    /// <inheritdoc/>
    public override double Value(ReadOnlySpan<double> x) => MatrixGeometry.LargestSingularValue(Rows, Cols, x);

    /// <summary>The polar factor U Vᵀ: spectral norm 1 and ⟨U Vᵀ, G⟩ = ‖G‖nuc (Definition C.25).</summary>
    public override void SteepestDirection(ReadOnlySpan<double> g, Span<double> u) => MatrixGeometry.PolarFactor(Rows, Cols, g, u);
}

/// <summary>The nuclear norm ‖W‖nuc (sum of singular values) of one row-major matrix; dual: spectral.</summary>
public sealed class NuclearNorm : MatrixNorm
{
    /// <summary>Creates the nuclear norm of <paramref name="rows"/>×<paramref name="cols"/> matrices.</summary>
    public NuclearNorm(int rows, int cols)
        : base(rows, cols)
    {
    }

    /// <inheritdoc/>
    public override string Name => "nuc";

    /// <inheritdoc/>
    public override Norm Dual => _dual ??= new SpectralNorm(Rows, Cols);

    private SpectralNorm? _dual;

    /// <inheritdoc/>
    public override double Value(ReadOnlySpan<double> x) => MatrixGeometry.SingularValues(Rows, Cols, x).Sum();

    /// <summary>u₁v₁ᵀ of a top singular pair: nuclear norm 1 and ⟨u₁v₁ᵀ, G⟩ = ‖G‖sp.</summary>
    public override void SteepestDirection(ReadOnlySpan<double> g, Span<double> u) => MatrixGeometry.TopSingularOuter(Rows, Cols, g, u);
}
