using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Analysis.Observers;

/// <summary>The on/off pattern of every hidden unit on every sample (preactivation &gt; 0), layer by layer.</summary>
public static class ActivationPattern
{
    /// <summary>One entry per (sample, hidden unit), 1 where the preactivation is positive, else 0.</summary>
    public static sbyte[] Compute(FullyConnectedNetwork network, Dataset data, ReadOnlySpan<double> theta)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(data);
        IReadOnlyList<int> widths = network.Widths;
        int hiddenUnits = 0;
        for (int l = 1; l < widths.Count; l++)
        {
            hiddenUnits += widths[l];
        }

        var pattern = new sbyte[data.Count * hiddenUnits];
        int maxWidth = widths.Max();
        var input = new double[maxWidth];
        var output = new double[maxWidth];
        for (int i = 0; i < data.Count; i++)
        {
            data.Input(i).CopyTo(input);
            int fanIn = widths[0], offset = 0, unit = i * hiddenUnits;
            for (int l = 1; l < widths.Count; l++)
            {
                int width = widths[l];
                for (int r = 0; r < width; r++)
                {
                    double z = 0;
                    ReadOnlySpan<double> row = theta.Slice(offset + (r * fanIn), fanIn);
                    for (int c = 0; c < fanIn; c++)
                    {
                        z += row[c] * input[c];
                    }

                    pattern[unit++] = (sbyte)(z > 0 ? 1 : 0);
                    output[r] = network.Activation.Value(z);
                }

                offset += width * fanIn;
                fanIn = width;
                Array.Copy(output, input, width);
            }
        }

        return pattern;
    }
}
