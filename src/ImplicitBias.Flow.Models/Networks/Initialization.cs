using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Models.Random;

namespace ImplicitBias.Flow.Models.Networks;

/// <summary>Initial parameters θ(0) (docs/mathematics.md §1, App. D).</summary>
public static class Initialization
{
    /// <summary>The paper's initialization scale α.</summary>
    public const double DefaultScale = 0.01;

    /// <summary>
    /// Kaiming normal without nonlinearity gain, W_l[a, b] ~ N(0, 1/fan_in) with fan_in = Cols, all multiplied by
    /// <paramref name="scale"/>. Blocks are filled in layout order from one xoshiro256** stream, so the result is
    /// identical bit for bit for a given seed on every machine.
    /// </summary>
    public static double[] KaimingNormal(ParameterLayout layout, ulong seed, double scale = DefaultScale)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (!double.IsFinite(scale))
        {
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "The scale must be finite.");
        }

        var rng = new Xoshiro256StarStar(seed);
        var theta = new double[layout.Length];
        for (int b = 0; b < layout.Blocks.Count; b++)
        {
            double std = scale / Math.Sqrt(layout.Blocks[b].Cols);
            Span<double> block = layout.Slice(theta.AsSpan(), b);
            for (int k = 0; k < block.Length; k++)
            {
                block[k] = std * rng.NextNormal();
            }
        }

        return theta;
    }

    /// <summary>
    /// Loads θ(0) from a 1-D float64 <c>.npy</c> file holding the blocks concatenated in layout order.
    /// </summary>
    public static double[] FromNpy(string path, ParameterLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var array = Npy.ReadFile(path);
        if (array.Shape.Length != 1)
        {
            throw new InvalidDataException($"'{path}' holds a {array.Shape.Length}-D array; θ must be 1-D.");
        }

        if (array.Data.Length != layout.Length)
        {
            throw new InvalidDataException($"'{path}' holds {array.Data.Length} values; the network has {layout.Length} parameters.");
        }

        foreach (double v in array.Data)
        {
            if (!double.IsFinite(v))
            {
                throw new InvalidDataException($"'{path}' contains a non-finite value.");
            }
        }

        return array.Data;
    }
}
