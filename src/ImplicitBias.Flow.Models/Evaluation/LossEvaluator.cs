using System.Numerics;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Core.Threading;

namespace ImplicitBias.Flow.Models.Evaluation;

/// <summary>
/// Full-batch CPU evaluator of the summed loss L(θ) = Σ_i ℓ(y_i f(x_i; θ)) and its gradient (docs/mathematics.md §1), carried in
/// log space: <see cref="Evaluate"/> returns log L and writes the RELATIVE gradient g/L = Σ_i (ℓ'(z_i)/L) y_i ∇f(x_i),
/// which is of order one however small L is, so flows can carry σ = log L. All workspaces are allocated once
/// in the constructor and a call allocates nothing; an instance is not thread-safe (it splits its own work over
/// the cores).
/// </summary>
/// <remarks>
/// <para>How the work is organised. Every product is a sequence of 10 × 16 tiles of <see cref="PackedGemm"/>.
/// Per-layer m × n matrices (preactivations z_l, activations a_l, back-propagated δ_l) are kept
/// "sample-blocked": block s holds samples 16s … 16s+15, unit by unit, 16 contiguous samples per unit. That is
/// exactly the vector operand of the next layer's product, so the forward pass z_{l+1}ᵀ = W_{l+1} a_lᵀ and the
/// backward pass δ_{l−1}ᵀ = (W_lᵀ δ_lᵀ) ⊙ σ'(z_{l−1}ᵀ) run block by block with no transposition, the activation,
/// its derivative and the output row fused into the tile's epilogue. The data X never changes, so it is packed
/// once, twice: sample-blocked (forward) and feature-blocked (16 features × all samples, the vector operand
/// of ∂W_1 = δ_1ᵀ X). The weight gradients ∂W_l = δ_lᵀ a_{l−1} sum over all samples inside one tile; δ_l is
/// scattered into 10-unit panels for them. Padding samples (m rounded up to 16) have x = 0 and weight 0.</para>
/// <para>Threads and determinism. A call runs three phases on a shared team of threads (no allocation): the
/// forward pass split by sample blocks, the backward pass split by sample blocks, and the weight-gradient tiles
/// split by cost. Every output value is written by exactly one tile whose summation order is fixed, so the
/// results are bit-identical whatever the number of threads and however the phases are timed.</para>
/// <para>Narrow networks (depth 2–3, hidden widths ≤ 20) on AVX-512 take a fused single pass instead, which reads
/// the data once per gradient and needs no feature-blocked copy of it (LossEvaluator.Fused.cs); its results equal
/// the two-pass path's to rounding and are likewise independent of the number of threads.</para>
/// <para>With <see cref="Float32"/> the two products with the data (z_1 forward, ∂W_1) run on float32 tiles, on either
/// pass (LossEvaluator.Single.cs on this one); everything else is unchanged.</para>
/// </remarks>
public sealed unsafe partial class LossEvaluator
{
    private const int Mr = PackedGemm.RowsPerTile;
    private const int Ns = PackedGemm.ColumnsPerTile;
    private const int TileValues = Mr * Ns;

    private readonly int _m;
    private readonly int _mPad;
    private readonly int _blocks;
    private readonly int _depth;
    private readonly int[] _n;            // n_0 = d, n_1 … n_{D−1}, n_D = 1
    private readonly int[] _blockOffsets; // offset of W_l in θ at index l − 1
    private readonly double[] _y;
    private readonly Activation _activation;

    private readonly AlignedBuffer _xT;        // X sample-blocked [s][f][16]
    private AlignedBuffer? _xB;                // X feature-blocked [fb][i][16] (depth ≥ 2, two-pass path; made on first use)
    private readonly AlignedBuffer?[] _zT;     // z_l sample-blocked, l = 1 … D−1
    private readonly AlignedBuffer?[] _aT;     // a_l sample-blocked, l = 1 … D−1
    private readonly AlignedBuffer?[] _dT;     // δ_l sample-blocked, l = 1 … D−1
    private readonly AlignedBuffer?[] _dPack;  // δ_l in 10-unit panels [J][i][10], l = 1 … D−1
    private readonly AlignedBuffer?[] _aB;     // a_l feature-blocked [fb][i][16], l = 1 … D−2
    private readonly AlignedBuffer?[] _wPack;  // W_l in 10-row panels [J][p][10], l = 1 … D
    private readonly AlignedBuffer?[] _wtPack; // W_lᵀ in 10-row panels, l = 2 … D
    private readonly AlignedBuffer _f;         // outputs, padded to m̃
    private readonly AlignedBuffer _c;         // c_i = (ℓ'(z_i)/L) y_i, 0 on padding
    private readonly AlignedBuffer[] _work;    // per part: one tile + 16 vector accumulators (or a float32 10 × 32 tile, or the fused float32 pass's z_1 rows)

    private readonly double[] _grad;
    private readonly double[] _outputs;
    private readonly double[] _margins;
    private readonly double[] _weights;
    private readonly double[] _scratch;
    private readonly double[] _sampleScratch;
    private readonly double[]?[] _zRow;
    private readonly bool[] _zRowValid;

    private readonly int _parts;
    private GradientTask[] _tasks;        // re-planned when Float32 changes (its ∂W_1 tiles are 32 features wide)
    private int[] _taskStart;
    private readonly Action<int> _forwardBody;
    private readonly Action<int> _backwardBody;
    private readonly Action<int> _gradientBody;

    /// <summary>
    /// Multiply-adds of one forward product (samples × parameters) below which "all cores" means one thread: about
    /// 20–40 µs of work, where a hand-over between threads stops paying and costs a great deal when the cores are shared.
    /// </summary>
    public const long MinParallelMultiplyAdds = 1_000_000;

    /// <summary>How many parts each phase is split into (threads that can work on it at once).</summary>
    internal int Parts => _parts;

    /// <summary>Creates an evaluator for a network, a data set and a loss.</summary>
    /// <param name="network">Architecture; its input dimension must equal the data's.</param>
    /// <param name="data">The training set.</param>
    /// <param name="loss">Exponential or logistic.</param>
    /// <param name="maxDegreeOfParallelism">
    /// Threads to use (−1: all cores, or one when m times the parameter count is below
    /// <see cref="MinParallelMultiplyAdds"/>; 1: serial). The results do not depend on it.
    /// </param>
    public LossEvaluator(FullyConnectedNetwork network, Dataset data, Loss loss, int maxDegreeOfParallelism = -1)
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
        _activation = network.Activation;
        _m = data.Count;
        _blocks = (_m + Ns - 1) / Ns;
        _mPad = _blocks * Ns;
        _depth = network.Depth;
        _n = [.. network.Widths, 1];
        _blockOffsets = new int[_depth];
        for (int b = 0; b < _depth; b++)
        {
            _blockOffsets[b] = network.Layout.Offset(b);
        }

        _y = data.Y.ToArray();
        int d = _n[0];
        // Slack after the last block: the fused pass's last feature group reads up to NarrowGemm rows past d.
        _xT = new AlignedBuffer((_blocks * d * Ns) + (PackedGemm.RowsPerTile + 2) * Ns);
        ReadOnlySpan<double> x = data.X;
        for (int i = 0; i < _m; i++)
        {
            for (int f = 0; f < d; f++)
            {
                _xT.Pointer[(((i / Ns) * d) + f) * Ns + (i % Ns)] = x[(i * d) + f];
            }
        }

        _zT = new AlignedBuffer?[_depth];
        _aT = new AlignedBuffer?[_depth];
        _dT = new AlignedBuffer?[_depth];
        _dPack = new AlignedBuffer?[_depth];
        _aB = new AlignedBuffer?[_depth];
        _zRow = new double[]?[_depth];
        _zRowValid = new bool[_depth];
        for (int l = 1; l < _depth; l++)
        {
            _zT[l] = new AlignedBuffer(_mPad * _n[l]);
            _aT[l] = new AlignedBuffer(_mPad * _n[l]);
            _dT[l] = new AlignedBuffer(_mPad * _n[l]);
            _dPack[l] = new AlignedBuffer(Panels(_n[l]) * Mr * _mPad);
            if (l <= _depth - 2)
            {
                _aB[l] = FeatureBlocked(_n[l]);
            }
        }

        _wPack = new AlignedBuffer?[_depth + 1];
        _wtPack = new AlignedBuffer?[_depth + 1];
        for (int l = 1; l <= _depth; l++)
        {
            _wPack[l] = new AlignedBuffer(Panels(_n[l]) * Mr * _n[l - 1]);
            if (l >= 2)
            {
                _wtPack[l] = new AlignedBuffer(Panels(_n[l - 1]) * Mr * _n[l]);
            }
        }

        _f = new AlignedBuffer(_mPad);
        _c = new AlignedBuffer(_mPad);
        // Pinned: the weight-gradient tiles write into it through raw pointers from the worker threads.
        _grad = GC.AllocateArray<double>(network.Layout.Length, pinned: true);
        _outputs = new double[_m];
        _margins = new double[_m];
        _weights = new double[_m];
        _scratch = new double[_m];
        _sampleScratch = new double[network.SampleScratchLength];

        // "All cores" means one thread for a small problem: below MinParallelMultiplyAdds a phase is a few µs of work,
        // less than handing it to another thread costs, and when the cores are shared (two runs on two cores) each
        // phase waits for a descheduled partner (a 32-sample problem ran 47× slower next to two busy processes). An
        // explicit count is honoured. The results do not depend on the number of threads.
        long multiplyAdds = (long)_m * network.Layout.Length;
        int requested = maxDegreeOfParallelism > 0 ? maxDegreeOfParallelism
            : multiplyAdds < MinParallelMultiplyAdds ? 1
            : Environment.ProcessorCount;
        _parts = Math.Max(1, Math.Min(Math.Min(requested, _blocks), WorkerTeam.Shared.MaxParts));
        _work = new AlignedBuffer[_parts];
        for (int t = 0; t < _parts; t++)
        {
            _work[t] = new AlignedBuffer(Math.Max(Math.Max(TileValues + (Ns * Vector<double>.Count), MaxFusedWidth * Ns), Mr * SingleColumns));
        }

        (_tasks, _taskStart) = PlanGradientTasks();
        _forwardBody = ForwardPart;
        _backwardBody = BackwardPart;
        _gradientBody = GradientPart;
        _forwardSingleBody = ForwardSingleBody;
        _fused = FusedPlan.Create(this);
        if (_fused is null)
        {
            EnsureTwoPass();
        }
    }

    /// <summary>The network.</summary>
    public FullyConnectedNetwork Network { get; }

    /// <summary>The data.</summary>
    public Dataset Data { get; }

    /// <summary>The loss.</summary>
    public Loss Loss { get; }

    /// <summary>Number of parameters |θ|.</summary>
    public int ParameterCount => _grad.Length;

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
    /// (Unpacked from the evaluator's sample-blocked layout on the first request after a forward pass.)
    /// </summary>
    public ReadOnlySpan<double> Preactivations(int layer)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layer, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, _depth);
        double[] row = _zRow[layer] ??= new double[_m * _n[layer]];
        if (!_zRowValid[layer])
        {
            int n = _n[layer];
            double* z = _zT[layer]!.Pointer;
            for (int i = 0; i < _m; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    row[(i * n) + j] = z[((((i / Ns) * n) + j) * Ns) + (i % Ns)];
                }
            }

            _zRowValid[layer] = true;
        }

        return row;
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
        if (relativeGradient.Length != _grad.Length)
        {
            throw new ArgumentException($"The gradient needs {_grad.Length} values.", nameof(relativeGradient));
        }

        LastEvaluateFused = _fused is not null && UseFusedPass && PackedGemm.Path == GemmKernelPath.Vector512 && EvaluateFused(theta) is not null;
        if (LastEvaluateFused)
        {
            _grad.CopyTo(relativeGradient);
            return LogLoss;
        }

        EnsureTwoPass();
        double logLoss = EvaluateLoss(theta);
        Loss.RelativeWeights(_margins, logLoss, _weights);
        double* c = _c.Pointer;
        for (int i = 0; i < _m; i++)
        {
            c[i] = _weights[i] * _y[i];
        }

        if (_single && _depth == 1)
        {
            _singleBuffers!.PackOutputWeights(c, _mPad);
        }

        PackTransposedWeights(theta);
        if (_depth >= 2)
        {
            WorkerTeam.Shared.Run(_parts, _backwardBody);
        }

        WorkerTeam.Shared.Run(_parts, _gradientBody);
        _grad.CopyTo(relativeGradient);
        return logLoss;
    }

    // W_lᵀ in 10-row panels: row j of W_lᵀ is column j of W_l (l ≥ 2).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void PackTransposedWeights(ReadOnlySpan<double> theta)
    {
        for (int l = 2; l <= _depth; l++)
        {
            int nIn = _n[l - 1], nOut = _n[l];
            ReadOnlySpan<double> w = theta.Slice(_blockOffsets[l - 1], nIn * nOut);
            double* pack = _wtPack[l]!.Pointer;
            for (int j = 0; j < nIn; j++)
            {
                double* panel = pack + ((j / Mr) * nOut * Mr) + (j % Mr);
                for (int p = 0; p < nOut; p++)
                {
                    panel[p * Mr] = w[(p * nIn) + j];
                }
            }
        }
    }

    // The data feature-blocked, the operand of the two-pass path's ∂W_1 tiles (not needed by the fused pass).
    private void EnsureTwoPass()
    {
        if (_xB is not null || _depth < 2)
        {
            return;
        }

        int d = _n[0];
        ReadOnlySpan<double> x = Data.X;
        var xB = FeatureBlocked(d);
        for (int i = 0; i < _m; i++)
        {
            for (int f = 0; f < d; f++)
            {
                xB.Pointer[((((f / Ns) * _mPad) + i) * Ns) + (f % Ns)] = x[(i * d) + f];
            }
        }

        _xB = xB;
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

    private static int Panels(int rows) => (rows + Mr - 1) / Mr;

    private static int ColumnBlocks(int columns) => (columns + Ns - 1) / Ns;

    private AlignedBuffer FeatureBlocked(int features) => new(ColumnBlocks(features) * _mPad * Ns);

    private (int Start, int End) SampleBlocks(int part) => (part * _blocks / _parts, (part + 1) * _blocks / _parts);

    private void Forward(ReadOnlySpan<double> theta)
    {
        Array.Clear(_zRowValid);
        if (_single)
        {
            ForwardSingle(theta);
        }
        else
        {
            PackWeights(theta);
            WorkerTeam.Shared.Run(_parts, _forwardBody);
        }

        double qmin = double.PositiveInfinity;
        double* f = _f.Pointer;
        for (int i = 0; i < _m; i++)
        {
            _outputs[i] = f[i];
            double zi = _y[i] * f[i];
            _margins[i] = zi;
            qmin = Math.Min(qmin, zi);
        }

        MinMargin = qmin;
    }

    // W_l in 10-row panels for l ≥ firstLayer (padding rows stay zero from the allocation); float32 packs W_1 itself.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void PackWeights(ReadOnlySpan<double> theta, int firstLayer = 1)
    {
        if (theta.Length != _grad.Length)
        {
            throw new ArgumentException($"θ has {theta.Length} values; the network has {_grad.Length}.", nameof(theta));
        }

        // Panel by panel, input by input: the panel is written in order (its Mr rows of one input are adjacent) while
        // the rows of W_l are read as Mr sequential streams; row by row, every write would land on another cache
        // line of a panel larger than L1 (W_1 at d = 784), which made this serial step ≈ 2 % of a fused gradient.
        fixed (double* t = theta)
        {
            for (int l = firstLayer; l <= _depth; l++)
            {
                int nIn = _n[l - 1], nOut = _n[l];
                double* w = t + _blockOffsets[l - 1];
                double* pack = _wPack[l]!.Pointer;
                for (int panel = 0; panel < Panels(nOut); panel++)
                {
                    int rows = Math.Min(Mr, nOut - (panel * Mr));
                    double* target = pack + ((long)panel * nIn * Mr);
                    double* source = w + ((long)panel * Mr * nIn);
                    for (int p = 0; p < nIn; p++)
                    {
                        for (int r = 0; r < rows; r++)
                        {
                            target[(p * Mr) + r] = source[(r * nIn) + p];
                        }
                    }
                }
            }
        }
    }

    // z_lᵀ = W_l a_{l−1}ᵀ block by block; the epilogue stores z_l and a_l = σ(z_l), or f for the output row.
    private void ForwardPart(int part)
    {
        double* tile = _work[part].Pointer;
        var (s0, s1) = SampleBlocks(part);
        for (int s = s0; s < s1; s++)
        {
            ForwardBlock(s, tile);
        }
    }

    // The forward pass of sample block s (z_l, a_l for its 16 samples, and their outputs f).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void ForwardBlock(int s, double* tile, int firstLayer = 1)
    {
        for (int l = firstLayer; l <= _depth; l++)
        {
            int nIn = _n[l - 1], nOut = _n[l];
            double* input = (l == 1 ? _xT.Pointer : _aT[l - 1]!.Pointer) + ((long)s * nIn * Ns);
            double* w = _wPack[l]!.Pointer;
            for (int panel = 0; panel < Panels(nOut); panel++)
            {
                PackedGemm.Tile(w + ((long)panel * nIn * Mr), input, nIn, tile);
                if (l == _depth)
                {
                    new ReadOnlySpan<double>(tile, Ns).CopyTo(new Span<double>(_f.Pointer + ((long)s * Ns), Ns));
                    continue;
                }

                int rows = Math.Min(Mr, nOut - (panel * Mr));
                for (int r = 0; r < rows; r++)
                {
                    long at = (((long)s * nOut) + (panel * Mr) + r) * Ns;
                    Activate(tile + (r * Ns), _zT[l]!.Pointer + at, _aT[l]!.Pointer + at);
                }
            }
        }
    }

    // δ_{l−1}ᵀ = (W_lᵀ δ_lᵀ) ⊙ σ'(z_{l−1}ᵀ) block by block (δ_D = c); then δ_l into 10-unit panels and, for depth
    // ≥ 3, a_l feature-blocked, the operands of the weight-gradient tiles.
    private void BackwardPart(int part)
    {
        double* tile = _work[part].Pointer;
        var (s0, s1) = SampleBlocks(part);
        for (int s = s0; s < s1; s++)
        {
            BackwardBlock(s, tile);
            for (int l = 1; l < _depth; l++)
            {
                int n = _n[l];
                double* delta = _dT[l]!.Pointer + ((long)s * n * Ns);
                double* pack = _dPack[l]!.Pointer;
                double* act = _aT[l]!.Pointer + ((long)s * n * Ns);
                double* blocked = _aB[l] is { } aB ? aB.Pointer : null;
                bool single = _single && l == 1;
                if (single)
                {
                    PackDeltaSingle(s, delta);
                }

                for (int j = 0; j < n; j++)
                {
                    if (!single)
                    {
                        double* target = pack + ((((long)(j / Mr) * _mPad) + (s * Ns)) * Mr) + (j % Mr);
                        for (int q = 0; q < Ns; q++)
                        {
                            target[q * Mr] = delta[(j * Ns) + q];
                        }
                    }

                    if (blocked is not null)
                    {
                        double* column = blocked + ((((long)(j / Ns) * _mPad) + (s * Ns)) * Ns) + (j % Ns);
                        for (int q = 0; q < Ns; q++)
                        {
                            column[q * Ns] = act[(j * Ns) + q];
                        }
                    }
                }
            }
        }
    }

    // δ_{l−1} of sample block s for l = D … 2, from δ_D = c (the block's part of _c).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void BackwardBlock(int s, double* tile)
    {
        for (int l = _depth; l >= 2; l--)
        {
            int nIn = _n[l - 1], nOut = _n[l];
            double* deltaOut = (l == _depth ? _c.Pointer : _dT[l]!.Pointer) + ((long)s * nOut * Ns);
            double* wt = _wtPack[l]!.Pointer;
            for (int panel = 0; panel < Panels(nIn); panel++)
            {
                PackedGemm.Tile(wt + ((long)panel * nOut * Mr), deltaOut, nOut, tile);
                int rows = Math.Min(Mr, nIn - (panel * Mr));
                for (int r = 0; r < rows; r++)
                {
                    long at = (((long)s * nIn) + (panel * Mr) + r) * Ns;
                    TimesDerivative(tile + (r * Ns), _zT[l - 1]!.Pointer + at, _dT[l - 1]!.Pointer + at);
                }
            }
        }
    }

    private void GradientPart(int part)
    {
        double* tile = _work[part].Pointer;
        for (int k = _taskStart[part]; k < _taskStart[part + 1]; k++)
        {
            GradientTask task = _tasks[k];
            if (_single && task.Layer == 1)
            {
                FirstLayerGradientSingle(task, tile);
                continue;
            }

            int l = task.Layer, nIn = _n[l - 1], nOut = _n[l];
            double* g = (double*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref _grad[_blockOffsets[l - 1]]);
            int c0 = task.ColumnBlock * Ns, columns = Math.Min(Ns, nIn - c0);
            if (l == _depth)
            {
                OutputRowGradient(l, c0, columns, tile + TileValues, g);
                continue;
            }

            // ∂W_l[rows, columns] = Σ_i δ_l[i, rows] a_{l−1}[i, columns] over all samples in one tile.
            double* a = _dPack[l]!.Pointer + ((long)task.Panel * _mPad * Mr);
            double* b = (l == 1 ? _xB! : _aB[l - 1]!).Pointer + ((long)task.ColumnBlock * _mPad * Ns);
            PackedGemm.Tile(a, b, _mPad, tile);
            int rows = Math.Min(Mr, nOut - (task.Panel * Mr));
            for (int r = 0; r < rows; r++)
            {
                new ReadOnlySpan<double>(tile + (r * Ns), columns).CopyTo(new Span<double>(g + (((task.Panel * Mr) + r) * nIn) + c0, columns));
            }
        }
    }

    // ∂W_D[j] = Σ_i c_i a_{D−1}[i, j] for 16 columns j, summed over the sample blocks in order.
    private void OutputRowGradient(int l, int c0, int columns, double* accumulators, double* g)
    {
        int width = Vector<double>.Count, nIn = _n[l - 1];
        double* source = l == 1 ? _xT.Pointer : _aT[l - 1]!.Pointer;
        var acc = new Span<Vector<double>>(accumulators, columns);
        acc.Clear();
        for (int s = 0; s < _blocks; s++)
        {
            double* cs = _c.Pointer + ((long)s * Ns);
            double* block = source + ((((long)s * nIn) + c0) * Ns);
            for (int j = 0; j < columns; j++)
            {
                Vector<double> sum = acc[j];
                for (int q = 0; q < Ns; q += width)
                {
                    sum += Vector.Load(cs + q) * Vector.Load(block + (j * Ns) + q);
                }

                acc[j] = sum;
            }
        }

        for (int j = 0; j < columns; j++)
        {
            g[c0 + j] = Vector.Sum(acc[j]);
        }
    }

    // z → z and σ(z) for 16 samples of one unit.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void Activate(double* tile, double* z, double* a)
    {
        int width = Vector<double>.Count;
        var zero = Vector<double>.Zero;
        switch (_activation.Kind)
        {
            case ActivationKind.Relu:
            case ActivationKind.ReluPower when _activation.Power == 2.0:
                bool squared = _activation.Kind == ActivationKind.ReluPower;
                for (int q = 0; q < Ns; q += width)
                {
                    Vector<double> v = Vector.Load(tile + q);
                    v.Store(z + q);
                    Vector.ConditionalSelect(Vector.GreaterThan(v, zero), squared ? v * v : v, zero).Store(a + q);
                }

                break;
            case ActivationKind.Quadratic:
                for (int q = 0; q < Ns; q += width)
                {
                    Vector<double> v = Vector.Load(tile + q);
                    v.Store(z + q);
                    (v * v).Store(a + q);
                }

                break;
            case ActivationKind.Identity:
                for (int q = 0; q < Ns; q += width)
                {
                    Vector<double> v = Vector.Load(tile + q);
                    v.Store(z + q);
                    v.Store(a + q);
                }

                break;
            default:
                for (int q = 0; q < Ns; q++)
                {
                    z[q] = tile[q];
                    a[q] = _activation.Value(tile[q]);
                }

                break;
        }
    }

    // δ = t ⊙ σ'(z) for 16 samples of one unit (t = the unit's row of W_lᵀ δ_l).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void TimesDerivative(double* tile, double* z, double* delta)
    {
        int width = Vector<double>.Count;
        var zero = Vector<double>.Zero;
        switch (_activation.Kind)
        {
            case ActivationKind.Relu:
            case ActivationKind.ReluPower when _activation.Power == 2.0:
                bool squared = _activation.Kind == ActivationKind.ReluPower;
                var one = Vector<double>.One;
                for (int q = 0; q < Ns; q += width)
                {
                    Vector<double> v = Vector.Load(z + q);
                    Vector<double> derivative = Vector.ConditionalSelect(Vector.GreaterThan(v, zero), squared ? v + v : one, zero);
                    (Vector.Load(tile + q) * derivative).Store(delta + q);
                }

                break;
            case ActivationKind.Quadratic:
                for (int q = 0; q < Ns; q += width)
                {
                    Vector<double> v = Vector.Load(z + q);
                    (Vector.Load(tile + q) * (v + v)).Store(delta + q);
                }

                break;
            case ActivationKind.Identity:
                new ReadOnlySpan<double>(tile, Ns).CopyTo(new Span<double>(delta, Ns));
                break;
            default:
                for (int q = 0; q < Ns; q++)
                {
                    delta[q] = tile[q] * _activation.Derivative(z[q]);
                }

                break;
        }
    }

    // The weight-gradient tiles (layer, 10-row panel, 16-column block), ordered so that consecutive tiles of one
    // part share the column block (its 16 × m̃ panel stays in cache), then cut into contiguous runs of equal cost.
    private (GradientTask[] Tasks, int[] Start) PlanGradientTasks()
    {
        var tasks = new List<GradientTask>();
        var cost = new List<long>();
        for (int l = 1; l <= _depth; l++)
        {
            if (_single && l == 1)
            {
                // float32 ∂W_1 tiles: 32 features wide, at about the cost of a float64 tile of 16.
                for (int cb = 0; cb < (_n[0] + SingleColumns - 1) / SingleColumns; cb++)
                {
                    for (int panel = 0; panel < Panels(_n[1]); panel++)
                    {
                        tasks.Add(new GradientTask(1, panel, cb));
                        cost.Add((long)TileValues * _mPad);
                    }
                }

                continue;
            }

            for (int cb = 0; cb < ColumnBlocks(_n[l - 1]); cb++)
            {
                if (l == _depth)
                {
                    tasks.Add(new GradientTask(l, 0, cb));
                    cost.Add((long)Ns * _mPad);
                    continue;
                }

                for (int panel = 0; panel < Panels(_n[l]); panel++)
                {
                    tasks.Add(new GradientTask(l, panel, cb));
                    cost.Add((long)TileValues * _mPad);
                }
            }
        }

        long total = cost.Sum();
        var start = new int[_parts + 1];
        long before = 0;
        int next = 1;
        for (int k = 0; k < tasks.Count; k++)
        {
            // Task k goes to the part whose share holds its midpoint.
            int owner = (int)Math.Min(_parts - 1, ((2 * before) + cost[k]) * _parts / (2 * total));
            while (next <= owner)
            {
                start[next++] = k;
            }

            before += cost[k];
        }

        while (next <= _parts)
        {
            start[next++] = tasks.Count;
        }

        return ([.. tasks], start);
    }

    private readonly record struct GradientTask(int Layer, int Panel, int ColumnBlock);
}
