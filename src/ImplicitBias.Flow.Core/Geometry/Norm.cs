namespace ImplicitBias.Flow.Core.Geometry;

/// <summary>
/// A norm on a flat vector (a plain vector, a single row-major matrix, or a network's θ split by a
/// <see cref="Parameters.ParameterLayout"/>). Each norm knows its dual (docs/mathematics.md §5) and its steepest
/// direction, the object the steepest-descent flows of the paper (Eqs. 2, 3, 5, 6) are built from.
/// </summary>
public abstract class Norm
{
    /// <summary>A short name for reports ("l2", "linf", "msp", …).</summary>
    public abstract string Name { get; }

    /// <summary>The dual norm ‖g‖⋆ = max over ‖u‖ ≤ 1 of ⟨u, g⟩.</summary>
    public abstract Norm Dual { get; }

    /// <summary>‖x‖.</summary>
    public abstract double Value(ReadOnlySpan<double> x);

    /// <summary>
    /// Writes into <paramref name="u"/> a vector with ‖u‖ = 1 maximizing ⟨u, g⟩, so that ⟨u, g⟩ = ‖g‖⋆
    /// (the normalized steepest-descent direction is −u). Writes 0 when g = 0, and 0 on any block or
    /// coordinate on which the maximizer is free (g = 0 there).
    /// </summary>
    public abstract void SteepestDirection(ReadOnlySpan<double> g, Span<double> u);

    /// <summary>Throws unless <paramref name="x"/> and <paramref name="u"/> have the same length.</summary>
    private protected static void CheckSameLength(ReadOnlySpan<double> x, Span<double> u)
    {
        if (x.Length != u.Length)
        {
            throw new ArgumentException($"Output has length {u.Length}, input has length {x.Length}.", nameof(u));
        }
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>The Euclidean norm ℓ2 (self-dual); steepest direction g/‖g‖₂.</summary>
public sealed class L2Norm : Norm
{
    /// <summary>The single instance.</summary>
    public static L2Norm Instance { get; } = new();

    private L2Norm()
    {
    }

    /// <inheritdoc/>
    public override string Name => "l2";

    /// <inheritdoc/>
    public override Norm Dual => this;

    /// <inheritdoc/>
    public override double Value(ReadOnlySpan<double> x) => Euclidean(x);

    /// <inheritdoc/>
    public override void SteepestDirection(ReadOnlySpan<double> g, Span<double> u)
    {
        CheckSameLength(g, u);
        double n = Euclidean(g);
        if (n == 0)
        {
            u.Clear();
            return;
        }

        double inv = 1.0 / n;
        for (int j = 0; j < g.Length; j++)
        {
            u[j] = g[j] * inv;
        }
    }

    /// <summary>‖x‖₂ computed with scaling so that it neither overflows nor underflows.</summary>
    public static double Euclidean(ReadOnlySpan<double> x)
    {
        double scale = 0;
        for (int j = 0; j < x.Length; j++)
        {
            scale = Math.Max(scale, Math.Abs(x[j]));
        }

        if (scale == 0 || double.IsInfinity(scale))
        {
            return scale;
        }

        double inv = 1.0 / scale, s = 0;
        for (int j = 0; j < x.Length; j++)
        {
            double t = x[j] * inv;
            s += t * t;
        }

        return scale * Math.Sqrt(s);
    }
}

/// <summary>The max norm ℓ∞ (dual ℓ1); steepest direction sign(g), 0 where g = 0 (SignGD / Signum).</summary>
public sealed class LInfNorm : Norm
{
    /// <summary>The single instance.</summary>
    public static LInfNorm Instance { get; } = new();

    private LInfNorm()
    {
    }

    /// <inheritdoc/>
    public override string Name => "linf";

    /// <inheritdoc/>
    public override Norm Dual => L1Norm.Instance;

    /// <inheritdoc/>
    public override double Value(ReadOnlySpan<double> x)
    {
        double m = 0;
        for (int j = 0; j < x.Length; j++)
        {
            m = Math.Max(m, Math.Abs(x[j]));
        }

        return m;
    }

    /// <inheritdoc/>
    public override void SteepestDirection(ReadOnlySpan<double> g, Span<double> u)
    {
        CheckSameLength(g, u);
        for (int j = 0; j < g.Length; j++)
        {
            u[j] = g[j] > 0 ? 1.0 : g[j] < 0 ? -1.0 : 0.0;
        }
    }
}

/// <summary>
/// The ℓ1 norm (dual ℓ∞); steepest direction sign(g_j) e_j on the first coordinate j attaining ‖g‖∞.
/// </summary>
public sealed class L1Norm : Norm
{
    /// <summary>The single instance.</summary>
    public static L1Norm Instance { get; } = new();

    private L1Norm()
    {
    }

    /// <inheritdoc/>
    public override string Name => "l1";

    /// <inheritdoc/>
    public override Norm Dual => LInfNorm.Instance;

    /// <inheritdoc/>
    public override double Value(ReadOnlySpan<double> x)
    {
        double s = 0;
        for (int j = 0; j < x.Length; j++)
        {
            s += Math.Abs(x[j]);
        }

        return s;
    }

    /// <inheritdoc/>
    public override void SteepestDirection(ReadOnlySpan<double> g, Span<double> u)
    {
        CheckSameLength(g, u);
        u.Clear();
        int best = -1;
        double m = 0;
        for (int j = 0; j < g.Length; j++)
        {
            if (Math.Abs(g[j]) > m)
            {
                m = Math.Abs(g[j]);
                best = j;
            }
        }

        if (best >= 0)
        {
            u[best] = g[best] > 0 ? 1.0 : -1.0;
        }
    }
}
