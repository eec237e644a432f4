using ILGPU;
using ILGPU.Runtime;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// One ODE state vector (θ, m, v, … laid out by a <see cref="Core.State.StateLayout"/>) held in device
/// memory, in double precision. Created by <see cref="IlgpuStateAlgebra.Allocate"/>; dispose it (or the
/// algebra's accelerator) to free the memory.
/// </summary>
public sealed class DeviceState : IDisposable
{
    private readonly MemoryBuffer1D<double, Stride1D.Dense> _buffer;

    internal DeviceState(Accelerator accelerator, int length)
    {
        _buffer = accelerator.Allocate1D<double>(length);
        _buffer.MemSetToZero();
        View = _buffer.View;
    }

    /// <summary>The state's device memory, for kernels that read or write it in place.</summary>
    public ArrayView<double> View { get; }

    /// <summary>Number of scalar components.</summary>
    public long Length => View.Length;

    /// <summary>Frees the device memory.</summary>
    public void Dispose() => _buffer.Dispose();
}
