using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Analysis.Observers;

/// <summary>The on/off pattern of every hidden unit on every sample (preactivation &gt; 0), layer by layer.</summary>
public static class ActivationPattern
{
    /// <summary>Number of entries of a pattern: samples × hidden units.</summary>
    public static int Length(FullyConnectedNetwork network, int samples)
    {
        ArgumentNullException.ThrowIfNull(network);
        int hiddenUnits = 0;
        for (int l = 1; l < network.Widths.Count; l++)
        {
            hiddenUnits += network.Widths[l];
        }

        return samples * hiddenUnits;
    }

    /// <summary>
    /// The pattern of the evaluator's last forward pass (same layout as <see cref="Compute"/>), read from its
    /// preactivations: no extra forward pass, no allocation. The observer uses it at every save.
    /// </summary>
    public static void FromLastForward(LossEvaluator evaluator, Span<sbyte> pattern)
    {
        ArgumentNullException.ThrowIfNull(evaluator);
        FullyConnectedNetwork network = evaluator.Network;
        int samples = evaluator.Data.Count;
        int hiddenUnits = Length(network, 1);
        if (pattern.Length != samples * hiddenUnits)
        {
            throw new ArgumentException($"The pattern needs {samples * hiddenUnits} entries.", nameof(pattern));
        }

        int layerStart = 0;
        for (int l = 1; l < network.Widths.Count; l++)
        {
            int width = network.Widths[l];
            ReadOnlySpan<double> z = evaluator.Preactivations(l);
            for (int i = 0; i < samples; i++)
            {
                ReadOnlySpan<double> zi = z.Slice(i * width, width);
                Span<sbyte> target = pattern.Slice((i * hiddenUnits) + layerStart, width);
                for (int r = 0; r < width; r++)
                {
                    target[r] = (sbyte)(zi[r] > 0 ? 1 : 0);
                }
            }

            layerStart += width;
        }
    }

    /// <summary>One entry per (sample, hidden unit), 1 where the preactivation is positive, else 0 (an
    /// independent scalar forward pass; <see cref="FromLastForward"/> reads the evaluator's instead).</summary>
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
