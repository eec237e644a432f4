namespace ImplicitBias.Flow.Models.Data;

/// <summary>
/// A binary classification data set {(x_i, y_i)} (docs/mathematics.md §1): inputs X (m × d, row-major) and labels
/// y_i ∈ {−1, +1}. Immutable after construction; the arrays are copied.
/// </summary>
public sealed class Dataset
{
    private readonly double[] _x;
    private readonly double[] _y;

    /// <summary>Creates a data set, validating shapes, finiteness and labels.</summary>
    /// <param name="x">Inputs, row-major, length m·d.</param>
    /// <param name="y">Labels, length m, each −1 or +1.</param>
    /// <param name="dimension">Input dimension d.</param>
    public Dataset(ReadOnlySpan<double> x, ReadOnlySpan<double> y, int dimension)
    {
        if (dimension <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The input dimension must be positive.");
        }

        if (y.Length == 0)
        {
            throw new ArgumentException("A data set needs at least one sample.", nameof(y));
        }

        if (x.Length != y.Length * dimension)
        {
            throw new ArgumentException($"X has {x.Length} values; expected m·d = {y.Length}·{dimension}.", nameof(x));
        }

        foreach (double v in x)
        {
            if (!double.IsFinite(v))
            {
                throw new ArgumentException("X contains a non-finite value.", nameof(x));
            }
        }

        foreach (double v in y)
        {
            if (v != 1.0 && v != -1.0)
            {
                throw new ArgumentException($"Labels must be −1 or +1; found {v}.", nameof(y));
            }
        }

        _x = x.ToArray();
        _y = y.ToArray();
        Dimension = dimension;
    }

    /// <summary>Number of samples m.</summary>
    public int Count => _y.Length;

    /// <summary>Input dimension d.</summary>
    public int Dimension { get; }

    /// <summary>All inputs, row-major m × d.</summary>
    public ReadOnlySpan<double> X => _x;

    /// <summary>All labels.</summary>
    public ReadOnlySpan<double> Y => _y;

    /// <summary>Input x_i.</summary>
    public ReadOnlySpan<double> Input(int i) => _x.AsSpan(i * Dimension, Dimension);

    /// <summary>Label y_i.</summary>
    public double Label(int i) => _y[i];
}
