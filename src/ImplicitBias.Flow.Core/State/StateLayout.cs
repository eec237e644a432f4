namespace ImplicitBias.Flow.Core.State;

/// <summary>The partition of a flat state vector into named, contiguous blocks.</summary>
public sealed class StateLayout
{
    private readonly StateBlock[] _blocks;
    private readonly int[] _offsets;

    /// <summary>Creates a layout from blocks laid end to end in the given order.</summary>
    public StateLayout(IEnumerable<StateBlock> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        _blocks = blocks.ToArray();
        if (_blocks.Length == 0)
        {
            throw new ArgumentException("A state needs at least one block.", nameof(blocks));
        }

        _offsets = new int[_blocks.Length + 1];
        for (int b = 0; b < _blocks.Length; b++)
        {
            StateBlock block = _blocks[b];
            if (block.Length <= 0)
            {
                throw new ArgumentException($"Block '{block.Name}' has length {block.Length}; it must be positive.", nameof(blocks));
            }

            if (!(block.RelTol >= 0) || !(block.AbsTol >= 0) || !(block.ScaledAbsTol >= 0) || !(block.RelTol + block.AbsTol + block.ScaledAbsTol > 0))
            {
                throw new ArgumentException($"Block '{block.Name}' needs non-negative tolerances, not all zero.", nameof(blocks));
            }

            if (!(block.DecayRate >= 0) || double.IsInfinity(block.DecayRate))
            {
                throw new ArgumentException($"Block '{block.Name}' has decay rate {block.DecayRate}; it must be finite and ≥ 0.", nameof(blocks));
            }

            _offsets[b + 1] = _offsets[b] + block.Length;
        }
    }

    /// <summary>Creates a layout of one block.</summary>
    public static StateLayout Single(int length, double relTol = 1e-6, double absTol = 1e-6, double decayRate = 0.0) =>
        new([new StateBlock("y", length, relTol, absTol, 0.0, decayRate)]);

    /// <summary>The blocks in order.</summary>
    public IReadOnlyList<StateBlock> Blocks => _blocks;

    /// <summary>Number of blocks.</summary>
    public int BlockCount => _blocks.Length;

    /// <summary>Total number of scalar components.</summary>
    public int Length => _offsets[^1];

    /// <summary>Offset of block <paramref name="block"/> in the flat vector.</summary>
    public int Offset(int block) => _offsets[block];

    /// <summary>True when any block has a positive decay rate (a semilinear system).</summary>
    public bool IsSemilinear => _blocks.Any(b => b.DecayRate > 0);

    /// <summary>Index of the block named <paramref name="name"/>, or −1.</summary>
    public int IndexOf(string name) => Array.FindIndex(_blocks, b => b.Name == name);

    /// <summary>A copy of this layout with every block's tolerances replaced.</summary>
    public StateLayout WithTolerances(double relTol, double absTol) =>
        new(_blocks.Select(b => b with { RelTol = relTol, AbsTol = absTol }));
}
