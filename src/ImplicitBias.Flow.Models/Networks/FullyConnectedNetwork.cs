using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Models.Evaluation;

namespace ImplicitBias.Flow.Models.Networks;

/// <summary>
/// A bias-free fully connected network of depth D ≥ 1 (docs/mathematics.md §1): f(x) = W_D σ(W_{D−1} σ(… σ(W_1 x))), with
/// W_D the output row u. D = 1 is the linear predictor f(x) = ⟨u, x⟩. Parameters live in a flat θ laid out by
/// <see cref="ParameterLayout.FullyConnected"/>. This class holds only the architecture; batch evaluation is in
/// <see cref="ImplicitBias.Flow.Models.Evaluation.LossEvaluator"/>.
/// </summary>
public sealed class FullyConnectedNetwork
{
    private readonly int[] _widths;

    /// <summary>Creates the architecture.</summary>
    /// <param name="inputDimension">d.</param>
    /// <param name="hiddenWidths">Widths of the D − 1 hidden layers (empty: linear predictor).</param>
    /// <param name="activation">σ, used on every hidden layer.</param>
    public FullyConnectedNetwork(int inputDimension, IReadOnlyList<int> hiddenWidths, Activation activation)
    {
        ArgumentNullException.ThrowIfNull(hiddenWidths);
        ArgumentOutOfRangeException.ThrowIfLessThan(inputDimension, 1);
        foreach (int w in hiddenWidths)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(w, 1, nameof(hiddenWidths));
        }

        _widths = [inputDimension, .. hiddenWidths];
        Activation = activation;
        Layout = ParameterLayout.FullyConnected(inputDimension, hiddenWidths);

        // Assumption M2: σ of degree q gives L = 1 + q + … + q^{D−1}.
        double degree = 0, power = 1;
        for (int l = 0; l < Depth; l++)
        {
            degree += power;
            power *= activation.Power;
        }

        HomogeneityDegree = degree;
    }

    /// <summary>σ.</summary>
    public Activation Activation { get; }

    /// <summary>Depth D (number of weight blocks).</summary>
    public int Depth => _widths.Length;

    /// <summary>Input dimension d.</summary>
    public int InputDimension => _widths[0];

    /// <summary>Layer widths n_0 = d, n_1, …, n_{D−1} (the output has width 1).</summary>
    public IReadOnlyList<int> Widths => _widths;

    /// <summary>Homogeneity degree L: f(x; cθ) = c^L f(x; θ) for c &gt; 0.</summary>
    public double HomogeneityDegree { get; }

    /// <summary>Parameter layout of θ.</summary>
    public ParameterLayout Layout { get; }

    /// <summary>Length of the scratch span <see cref="OutputGradient"/> needs.</summary>
    public int SampleScratchLength => 3 * _widths.Sum();

    /// <summary>f(x; θ) for one input (allocates a scratch buffer; use the evaluator for batches).</summary>
    public double Output(ReadOnlySpan<double> theta, ReadOnlySpan<double> x)
    {
        var scratch = new double[SampleScratchLength];
        return OutputGradient(theta, x, Span<double>.Empty, scratch);
    }

    /// <summary>
    /// f(x; θ) and, if <paramref name="gradient"/> is non-empty, ∇_θ f(x; θ) written into it (length |θ|), by
    /// one forward and one backward pass. <paramref name="scratch"/> needs <see cref="SampleScratchLength"/> values.
    /// </summary>
    public double OutputGradient(ReadOnlySpan<double> theta, ReadOnlySpan<double> x, Span<double> gradient, Span<double> scratch)
    {
        if (theta.Length != Layout.Length)
        {
            throw new ArgumentException($"θ has {theta.Length} values; the layout has {Layout.Length}.", nameof(theta));
        }

        if (x.Length != InputDimension)
        {
            throw new ArgumentException($"x has {x.Length} values; expected {InputDimension}.", nameof(x));
        }

        int total = _widths.Sum();
        if (scratch.Length < 3 * total)
        {
            throw new ArgumentException("Scratch too small.", nameof(scratch));
        }

        // Activations a_l (a_0 = x), pre-activations z_l, and back-propagated δ_l, each packed by layer.
        Span<double> a = scratch[..total];
        Span<double> z = scratch.Slice(total, total);
        Span<double> delta = scratch.Slice(2 * total, total);
        x.CopyTo(a[.._widths[0]]);
        int off = 0;
        for (int l = 1; l < Depth; l++)
        {
            int nIn = _widths[l - 1], nOut = _widths[l];
            ReadOnlySpan<double> w = Layout.Slice(theta, l - 1);
            ReadOnlySpan<double> ain = a.Slice(off, nIn);
            Span<double> zout = z.Slice(off + nIn, nOut);
            Span<double> aout = a.Slice(off + nIn, nOut);
            for (int j = 0; j < nOut; j++)
            {
                double s = Simd.Dot(w.Slice(j * nIn, nIn), ain);
                zout[j] = s;
                aout[j] = Activation.Value(s);
            }

            off += nIn;
        }

        int nLast = _widths[^1];
        ReadOnlySpan<double> u = Layout.Slice(theta, Depth - 1);
        ReadOnlySpan<double> aLast = a.Slice(off, nLast);
        double f = Simd.Dot(u, aLast);
        if (gradient.IsEmpty)
        {
            return f;
        }

        if (gradient.Length != Layout.Length)
        {
            throw new ArgumentException("Gradient length differs from the layout.", nameof(gradient));
        }

        // ∂f/∂u = a_{D−1}; δ_{D−1} = u ⊙ σ'(z_{D−1}); ∂f/∂W_l = δ_l a_{l−1}ᵀ; δ_{l−1} = (W_lᵀ δ_l) ⊙ σ'(z_{l−1}).
        aLast.CopyTo(Layout.Slice(gradient, Depth - 1));
        if (Depth == 1)
        {
            return f;
        }

        Span<double> dl = delta.Slice(off, nLast);
        ReadOnlySpan<double> zl = z.Slice(off, nLast);
        for (int j = 0; j < nLast; j++)
        {
            dl[j] = u[j] * Activation.Derivative(zl[j]);
        }

        for (int l = Depth - 1; l >= 1; l--)
        {
            int nIn = _widths[l - 1], nOut = _widths[l];
            int offIn = off - nIn;
            ReadOnlySpan<double> w = Layout.Slice(theta, l - 1);
            Span<double> gw = Layout.Slice(gradient, l - 1);
            ReadOnlySpan<double> ain = a.Slice(offIn, nIn);
            ReadOnlySpan<double> dOut = delta.Slice(off, nOut);
            for (int j = 0; j < nOut; j++)
            {
                Simd.Scale(ain, dOut[j], gw.Slice(j * nIn, nIn));
            }

            if (l > 1)
            {
                Span<double> dIn = delta.Slice(offIn, nIn);
                dIn.Clear();
                for (int j = 0; j < nOut; j++)
                {
                    Simd.Axpy(dOut[j], w.Slice(j * nIn, nIn), dIn);
                }

                ReadOnlySpan<double> zIn = z.Slice(offIn, nIn);
                for (int k = 0; k < nIn; k++)
                {
                    dIn[k] *= Activation.Derivative(zIn[k]);
                }
            }

            off = offIn;
        }

        return f;
    }
}
