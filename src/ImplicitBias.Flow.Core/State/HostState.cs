namespace ImplicitBias.Flow.Core.State;

/// <summary>A state vector in host memory: a thin wrapper over a <see cref="double"/> array.</summary>
public sealed class HostState
{
    /// <summary>Creates a zeroed state of <paramref name="length"/> components.</summary>
    public HostState(int length) => Values = new double[length];

    /// <summary>Wraps an existing array (no copy).</summary>
    public HostState(double[] values) => Values = values ?? throw new ArgumentNullException(nameof(values));

    /// <summary>The components.</summary>
    public double[] Values { get; }

    /// <summary>Number of components.</summary>
    public int Length => Values.Length;
}
