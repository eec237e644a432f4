using ImplicitBias.Flow.Models.Random;

namespace ImplicitBias.Flow.Models.Data;

/// <summary>
/// Seeded synthetic data sets, identical bit for bit on every machine (own PRNG, see
/// <see cref="Xoshiro256StarStar"/>).
/// </summary>
public static class SyntheticData
{
    /// <summary>
    /// Linearly separable data: a unit teacher w ~ N(0, I)/‖·‖, x ~ N(0, I), y = sign⟨w, x⟩, then x is pushed
    /// by y·margin·w so that every sample has y⟨w, x⟩ ≥ margin (the teacher separates with that margin).
    /// </summary>
    public static Dataset Gaussian(int count, int dimension, ulong seed, double margin = 0.5)
    {
        Validate(count, dimension, margin, 1);
        var rng = new Xoshiro256StarStar(seed);
        var w = new double[dimension];
        double norm2 = 0;
        for (int k = 0; k < dimension; k++)
        {
            w[k] = rng.NextNormal();
            norm2 += w[k] * w[k];
        }

        double inv = 1.0 / Math.Sqrt(norm2);
        for (int k = 0; k < dimension; k++)
        {
            w[k] *= inv;
        }

        var x = new double[count * dimension];
        var y = new double[count];
        for (int i = 0; i < count; i++)
        {
            var xi = x.AsSpan(i * dimension, dimension);
            double dot = 0;
            for (int k = 0; k < dimension; k++)
            {
                xi[k] = rng.NextNormal();
                dot += xi[k] * w[k];
            }

            // A draw exactly on the hyperplane gets a coin-flip label; it is then pushed off it like the rest.
            y[i] = dot > 0 ? 1.0 : dot < 0 ? -1.0 : (rng.NextUInt64() & 1) == 0 ? 1.0 : -1.0;
            for (int k = 0; k < dimension; k++)
            {
                xi[k] += y[i] * margin * w[k];
            }
        }

        return new Dataset(x, y, dimension);
    }

    /// <summary>
    /// XOR-like data (not linearly separable): x ~ N(0, I), y = sign(x_0 x_1), and the first two coordinates are
    /// pushed away from the axes by <paramref name="margin"/> so that the classes are separated by a gap.
    /// Needs d ≥ 2; coordinates 2…d−1 are pure noise.
    /// </summary>
    public static Dataset Xor(int count, int dimension, ulong seed, double margin = 0.5)
    {
        Validate(count, dimension, margin, 2);
        var rng = new Xoshiro256StarStar(seed);
        var x = new double[count * dimension];
        var y = new double[count];
        for (int i = 0; i < count; i++)
        {
            var xi = x.AsSpan(i * dimension, dimension);
            for (int k = 0; k < dimension; k++)
            {
                xi[k] = rng.NextNormal();
            }

            xi[0] += xi[0] >= 0 ? margin : -margin;
            xi[1] += xi[1] >= 0 ? margin : -margin;
            y[i] = xi[0] * xi[1] > 0 ? 1.0 : -1.0;
        }

        return new Dataset(x, y, dimension);
    }

    /// <summary>Builds a named generator: "gaussian" or "xor".</summary>
    public static Dataset Create(string name, int count, int dimension, ulong seed, double margin = 0.5)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.ToUpperInvariant() switch
        {
            "GAUSSIAN" => Gaussian(count, dimension, seed, margin),
            "XOR" => Xor(count, dimension, seed, margin),
            _ => throw new ArgumentException($"Unknown synthetic data set '{name}' (known: gaussian, xor).", nameof(name)),
        };
    }

    private static void Validate(int count, int dimension, double margin, int minDimension)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, minDimension);
        if (!(margin >= 0) || !double.IsFinite(margin))
        {
            throw new ArgumentOutOfRangeException(nameof(margin), margin, "The margin must be finite and non-negative.");
        }
    }
}
