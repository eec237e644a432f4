namespace ImplicitBias.Flow.Core.Parameters;

/// <summary>
/// One parameter block of a network: a matrix W_l (Rows × Cols, stored row-major) or the output row
/// (1 × k). <see cref="IsMatrix"/> is false for the output row, which Muon treats as a 1 × k matrix.
/// </summary>
/// <param name="Name">"W1", "W2", …, or "u" for the output row.</param>
/// <param name="Rows">Number of rows.</param>
/// <param name="Cols">Number of columns.</param>
/// <param name="IsMatrix">True for hidden-layer matrices, false for the output row (a vector block).</param>
public sealed record ParameterBlock(string Name, int Rows, int Cols, bool IsMatrix)
{
    /// <summary>Number of scalars in the block.</summary>
    public int Length => Rows * Cols;
}

/// <summary>
/// The flat parameter vector θ of a network: blocks W_1 (row-major), …, W_{D−1}, output row, concatenated
/// in this order. This is also the layout of the <c>.npy</c> snapshots.
/// </summary>
public sealed class ParameterLayout
{
    private readonly ParameterBlock[] _blocks;
    private readonly int[] _offsets;

    /// <summary>Creates a layout from blocks in order.</summary>
    public ParameterLayout(IEnumerable<ParameterBlock> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        _blocks = blocks.ToArray();
        if (_blocks.Length == 0)
        {
            throw new ArgumentException("A parameter layout needs at least one block.", nameof(blocks));
        }

        _offsets = new int[_blocks.Length + 1];
        for (int b = 0; b < _blocks.Length; b++)
        {
            if (_blocks[b].Rows <= 0 || _blocks[b].Cols <= 0)
            {
                throw new ArgumentException($"Block '{_blocks[b].Name}' has shape {_blocks[b].Rows}×{_blocks[b].Cols}.", nameof(blocks));
            }

            _offsets[b + 1] = _offsets[b] + _blocks[b].Length;
        }
    }

    /// <summary>
    /// The layout of a bias-free fully connected network with input dimension <paramref name="inputDimension"/>
    /// and the given hidden widths (depth D = widths.Count + 1; no widths is the linear predictor).
    /// </summary>
    public static ParameterLayout FullyConnected(int inputDimension, IReadOnlyList<int> hiddenWidths)
    {
        ArgumentNullException.ThrowIfNull(hiddenWidths);
        var blocks = new List<ParameterBlock>();
        int fanIn = inputDimension;
        for (int l = 0; l < hiddenWidths.Count; l++)
        {
            blocks.Add(new ParameterBlock($"W{l + 1}", hiddenWidths[l], fanIn, IsMatrix: true));
            fanIn = hiddenWidths[l];
        }

        blocks.Add(new ParameterBlock("u", 1, fanIn, IsMatrix: false));
        return new ParameterLayout(blocks);
    }

    /// <summary>The blocks in order.</summary>
    public IReadOnlyList<ParameterBlock> Blocks => _blocks;

    /// <summary>Total number of parameters.</summary>
    public int Length => _offsets[^1];

    /// <summary>Offset of block <paramref name="block"/> in θ.</summary>
    public int Offset(int block) => _offsets[block];

    /// <summary>The slice of <paramref name="theta"/> that holds block <paramref name="block"/>.</summary>
    public ReadOnlySpan<double> Slice(ReadOnlySpan<double> theta, int block) => theta.Slice(_offsets[block], _blocks[block].Length);

    /// <summary>The writable slice of <paramref name="theta"/> that holds block <paramref name="block"/>.</summary>
    public Span<double> Slice(Span<double> theta, int block) => theta.Slice(_offsets[block], _blocks[block].Length);
}
