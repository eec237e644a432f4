using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Models.Tests;

/// <summary>
/// The evaluator as it was before the packed GEMM kernels (straightforward per-sample dot products and rank
/// updates), kept verbatim as the reference the new one must match. Full-batch CPU evaluator of the summed loss L(θ) = Σ_i ℓ(y_i f(x_i; θ)) and its gradient (docs/mathematics.md §1), carried in
/// log space: <see cref="Evaluate"/> returns log L and writes the RELATIVE gradient g/L = Σ_i (ℓ'(z_i)/L) y_i ∇f(x_i),
/// which is of order one however small L is, so flows can carry σ = log L. All workspaces are allocated once
/// in the constructor; an instance is not thread-safe (it parallelizes internally with Parallel.For).
/// </summary>
internal sealed class LegacyLossEvaluator
{
    // Samples per tile of the gradient rank update: 16 rows of a_{l−1} (≈100 KB at d = 784) stay in L2 while four
    // gradient rows are updated; measured 64 → 16 cut the gradient at m = 2048, d = 784, k = 100 from ≈115 to ≈70 ms serial.
    private const int SampleTile = 16;
    private readonly int _m;
    private readonly int _depth;
    private readonly int[] _widths;
    private readonly int[] _blockOffsets;
    private readonly double[] _y;
    private readonly double[][] _a;      // a_l, m × n_l; a_0 = X
    private readonly double[][] _z;      // z_l, m × n_l (l ≥ 1)
    private readonly double[][] _delta;  // δ_l, m × n_l (l ≥ 1); δ_D = coefficient c_i (m × 1)
    private readonly double[] _theta;
    private readonly double[] _grad;
    private readonly double[] _outputs;
    private readonly double[] _margins;
    private readonly double[] _weights;
    private readonly double[] _scratch;
    private readonly double[] _sampleScratch;
    private readonly (int Layer, int RowStart, int RowEnd)[] _rowTasks;
    private readonly int _sampleChunks;
    private readonly int _sampleChunkSize;
    private readonly Action<int> _forwardBody;
    private readonly Action<int> _backwardBody;
    private readonly Action<int> _gradientBody;
    private readonly ParallelOptions _parallel;

    /// <summary>Creates an evaluator for a network, a data set and a loss.</summary>
    /// <param name="network">Architecture; its input dimension must equal the data's.</param>
    /// <param name="data">The training set.</param>
    /// <param name="loss">Exponential or logistic.</param>
    /// <param name="maxDegreeOfParallelism">Threads to use (−1: all cores; 1: serial).</param>
    public LegacyLossEvaluator(FullyConnectedNetwork network, Dataset data, Loss loss, int maxDegreeOfParallelism = -1)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(loss);
        if (network.InputDimension != data.Dimension)
        {
            throw new ArgumentException($"The network takes d = {network.InputDimension}; the data has d = {data.Dimension}.", nameof(data));
        }

        Network = network;
        Data = data;
        Loss = loss;
        _m = data.Count;
        _depth = network.Depth;
        _widths = [.. network.Widths, 1];
        _blockOffsets = new int[_depth + 1];
        for (int b = 0; b <= _depth; b++)
        {
            _blockOffsets[b] = b < _depth ? network.Layout.Offset(b) : network.Layout.Length;
        }

        _y = data.Y.ToArray();
        _a = new double[_depth][];
        _z = new double[_depth][];
        _delta = new double[_depth + 1][];
        _a[0] = data.X.ToArray();
        for (int l = 1; l < _depth; l++)
        {
            _a[l] = new double[_m * _widths[l]];
            _z[l] = new double[_m * _widths[l]];
            _delta[l] = new double[_m * _widths[l]];
        }

        _delta[_depth] = new double[_m];
        _theta = new double[network.Layout.Length];
        _grad = new double[network.Layout.Length];
        _outputs = new double[_m];
        _margins = new double[_m];
        _weights = new double[_m];
        _scratch = new double[_m];
        _sampleScratch = new double[network.SampleScratchLength];
        _parallel = new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism };

        int threads = maxDegreeOfParallelism > 0 ? maxDegreeOfParallelism : Environment.ProcessorCount;
        _sampleChunks = Math.Max(1, Math.Min(_m / 16, 4 * threads));
        _sampleChunkSize = (_m + _sampleChunks - 1) / _sampleChunks;
        _sampleChunks = (_m + _sampleChunkSize - 1) / _sampleChunkSize;

        // Gradient tasks: ranges of output rows of each block, so every task owns its rows of g (no reduction).
        var tasks = new List<(int, int, int)>();
        for (int l = 1; l <= _depth; l++)
        {
            int rows = _widths[l];
            int per = Math.Max(1, (rows + 4 * threads - 1) / (4 * threads));
            for (int r = 0; r < rows; r += per)
            {
                tasks.Add((l, r, Math.Min(rows, r + per)));
            }
        }

        _rowTasks = [.. tasks];
        _forwardBody = ForwardChunk;
        _backwardBody = BackwardChunk;
        _gradientBody = GradientTask;
    }

    /// <summary>The network.</summary>
    public FullyConnectedNetwork Network { get; }

    /// <summary>The data.</summary>
    public Dataset Data { get; }

    /// <summary>The loss.</summary>
    public Loss Loss { get; }

    /// <summary>Number of parameters |θ|.</summary>
    public int ParameterCount => _theta.Length;

    /// <summary>Outputs f(x_i; θ) of the last evaluation.</summary>
    public ReadOnlySpan<double> Outputs => _outputs;

    /// <summary>Margins z_i = y_i f(x_i; θ) of the last evaluation.</summary>
    public ReadOnlySpan<double> Margins => _margins;

    /// <summary>q_min = min_i z_i of the last evaluation.</summary>
    public double MinMargin { get; private set; } = double.NaN;

    /// <summary>log L of the last evaluation.</summary>
    public double LogLoss { get; private set; } = double.NaN;

    /// <summary>
    /// The preactivations z_l (m × n_l, row-major by sample) of hidden layer <paramref name="layer"/>
    /// (1 ≤ layer &lt; depth) from the last forward pass, for analyses that need the activation pattern.
    /// </summary>
    public ReadOnlySpan<double> Preactivations(int layer)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layer, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, _depth);
        return _z[layer];
    }

    /// <summary>Relative per-sample weights ℓ'(z_i)/L (≤ 0) of the last <see cref="Evaluate"/>.</summary>
    public ReadOnlySpan<double> RelativeWeights => _weights;

    /// <summary>
    /// Forward pass only: computes outputs, margins, q_min and returns log L. Does not touch the weights.
    /// </summary>
    public double EvaluateLoss(ReadOnlySpan<double> theta)
    {
        Forward(theta);
        LogLoss = Loss.LogSumLoss(_margins, _scratch);
        return LogLoss;
    }

    /// <summary>
    /// Computes log L(θ) (returned) and the relative gradient ∇L/L into <paramref name="relativeGradient"/>; also
    /// updates <see cref="Margins"/>, <see cref="MinMargin"/>, <see cref="Outputs"/> and <see cref="RelativeWeights"/>.
    /// </summary>
    public double Evaluate(ReadOnlySpan<double> theta, Span<double> relativeGradient)
    {
        if (relativeGradient.Length != _theta.Length)
        {
            throw new ArgumentException($"The gradient needs {_theta.Length} values.", nameof(relativeGradient));
        }

        double logLoss = EvaluateLoss(theta);
        Loss.RelativeWeights(_margins, logLoss, _weights);
        double[] c = _delta[_depth];
        for (int i = 0; i < _m; i++)
        {
            c[i] = _weights[i] * _y[i];
        }

        if (_depth > 1)
        {
            Parallel.For(0, _sampleChunks, _parallel, _backwardBody);
        }

        Parallel.For(0, _rowTasks.Length, _parallel, _gradientBody);
        _grad.CopyTo(relativeGradient);
        return logLoss;
    }

    /// <summary>Writes f(x_i; θ) for every sample into <paramref name="outputs"/> (length m).</summary>
    public void ForwardOutputs(ReadOnlySpan<double> theta, Span<double> outputs)
    {
        Forward(theta);
        _outputs.CopyTo(outputs);
    }

    /// <summary>
    /// ∇_θ f(x_i; θ) for one sample into <paramref name="gradient"/> (length |θ|); returns f(x_i; θ). Used by the
    /// KKT certificate (docs/mathematics.md §6). No allocation.
    /// </summary>
    public double SampleOutputGradient(ReadOnlySpan<double> theta, int sample, Span<double> gradient)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sample);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(sample, _m);
        return Network.OutputGradient(theta, Data.Input(sample), gradient, _sampleScratch);
    }

    private void Forward(ReadOnlySpan<double> theta)
    {
        if (theta.Length != _theta.Length)
        {
            throw new ArgumentException($"θ has {theta.Length} values; the network has {_theta.Length}.", nameof(theta));
        }

        theta.CopyTo(_theta);
        Parallel.For(0, _sampleChunks, _parallel, _forwardBody);
        double qmin = double.PositiveInfinity;
        for (int i = 0; i < _m; i++)
        {
            double zi = _y[i] * _outputs[i];
            _margins[i] = zi;
            qmin = Math.Min(qmin, zi);
        }

        MinMargin = qmin;
    }

    private void ForwardChunk(int chunk)
    {
        int i0 = chunk * _sampleChunkSize, i1 = Math.Min(_m, i0 + _sampleChunkSize);
        var act = Network.Activation;
        for (int l = 1; l <= _depth; l++)
        {
            int nIn = _widths[l - 1], nOut = _widths[l];
            ReadOnlySpan<double> w = _theta.AsSpan(_blockOffsets[l - 1], nIn * nOut);
            double[] ain = _a[l - 1];
            for (int i = i0; i < i1; i++)
            {
                ReadOnlySpan<double> x = ain.AsSpan(i * nIn, nIn);
                if (l == _depth)
                {
                    _outputs[i] = Simd.Dot(w, x);
                    continue;
                }

                Span<double> z = _z[l].AsSpan(i * nOut, nOut);
                Span<double> a = _a[l].AsSpan(i * nOut, nOut);
                int j = 0;
                for (; j + 4 <= nOut; j += 4)
                {
                    Simd.Dot4(w.Slice(j * nIn, 4 * nIn), x, z.Slice(j, 4));
                }

                for (; j < nOut; j++)
                {
                    z[j] = Simd.Dot(w.Slice(j * nIn, nIn), x);
                }

                for (j = 0; j < nOut; j++)
                {
                    a[j] = act.Value(z[j]);
                }
            }
        }
    }

    // δ_{D−1}[i] = c_i u ⊙ σ'(z_{D−1}); δ_{l−1}[i] = (W_lᵀ δ_l[i]) ⊙ σ'(z_{l−1}[i]).
    private void BackwardChunk(int chunk)
    {
        int i0 = chunk * _sampleChunkSize, i1 = Math.Min(_m, i0 + _sampleChunkSize);
        var act = Network.Activation;
        for (int l = _depth; l >= 2; l--)
        {
            int nIn = _widths[l - 1], nOut = _widths[l];
            ReadOnlySpan<double> w = _theta.AsSpan(_blockOffsets[l - 1], nIn * nOut);
            double[] dOutAll = _delta[l], dInAll = _delta[l - 1], zIn = _z[l - 1];
            for (int i = i0; i < i1; i++)
            {
                Span<double> dIn = dInAll.AsSpan(i * nIn, nIn);
                dIn.Clear();
                for (int j = 0; j < nOut; j++)
                {
                    double dj = dOutAll[i * nOut + j];
                    if (dj != 0)
                    {
                        Simd.Axpy(dj, w.Slice(j * nIn, nIn), dIn);
                    }
                }

                for (int k = 0; k < nIn; k++)
                {
                    dIn[k] *= act.Derivative(zIn[i * nIn + k]);
                }
            }
        }
    }

    // Rows [r0, r1) of block l−1: g_l[j, :] = Σ_i δ_l[i, j] a_{l−1}[i, :]. Samples are tiled so that a tile of
    // a_{l−1} stays in cache while every row of the task is updated.
    private void GradientTask(int task)
    {
        var (l, r0, r1) = _rowTasks[task];
        int nIn = _widths[l - 1], nOut = _widths[l];
        Span<double> g = _grad.AsSpan(_blockOffsets[l - 1], nIn * nOut);
        g.Slice(r0 * nIn, (r1 - r0) * nIn).Clear();
        double[] ain = _a[l - 1], d = _delta[l];
        for (int t0 = 0; t0 < _m; t0 += SampleTile)
        {
            int t1 = Math.Min(_m, t0 + SampleTile);
            int j = r0;
            for (; j + 4 <= r1; j += 4)
            {
                Simd.RankUpdate4(d.AsSpan(t0 * nOut + j), nOut, ain.AsSpan(t0 * nIn, (t1 - t0) * nIn), t1 - t0, g.Slice(j * nIn, 4 * nIn));
            }

            for (; j < r1; j++)
            {
                Span<double> gj = g.Slice(j * nIn, nIn);
                for (int i = t0; i < t1; i++)
                {
                    double dij = d[i * nOut + j];
                    if (dij != 0)
                    {
                        Simd.Axpy(dij, ain.AsSpan(i * nIn, nIn), gj);
                    }
                }
            }
        }
    }
}
