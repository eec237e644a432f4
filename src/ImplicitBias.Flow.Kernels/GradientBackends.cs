using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ImplicitBias.Flow.Flows;

namespace ImplicitBias.Flow.Kernels;

/// <summary>Where the gradient of the loss is computed (option <c>backend = auto | cpu | ilgpu-cpu | cuda</c>).</summary>
public enum Backend
{
    /// <summary>CUDA when a CUDA device is present, otherwise the managed CPU evaluator.</summary>
    Auto,

    /// <summary>The managed (SIMD, multi-threaded) CPU evaluator of the Models project.</summary>
    Cpu,

    /// <summary>The ILGPU kernels on ILGPU's CPU accelerator: slow; for testing the kernels without a GPU.</summary>
    IlgpuCpu,

    /// <summary>The ILGPU kernels on the first CUDA device; an error when there is none.</summary>
    Cuda,
}

/// <summary>
/// A gradient oracle together with everything it runs on (ILGPU context and accelerator when it is a
/// device backend). Disposing releases the evaluator, then the accelerator, then the context.
/// </summary>
public sealed class GradientBackend : IDisposable
{
    private readonly Context? _context;
    private readonly Accelerator? _accelerator;
    private bool _disposed;

    internal GradientBackend(Backend kind, string deviceName, IGradientOracle oracle, Context? context, Accelerator? accelerator)
    {
        Kind = kind;
        DeviceName = deviceName;
        Oracle = oracle;
        _context = context;
        _accelerator = accelerator;
    }

    /// <summary>The backend actually chosen (never <see cref="Backend.Auto"/>).</summary>
    public Backend Kind { get; }

    /// <summary>The option spelling of <see cref="Kind"/>: "cpu", "ilgpu-cpu" or "cuda".</summary>
    public string Name => GradientBackends.Format(Kind);

    /// <summary>The device the gradient runs on, e.g. "NVIDIA H100 80GB HBM3" or "managed CPU (up to 16 threads)".</summary>
    public string DeviceName { get; }

    /// <summary>The gradient oracle; valid until this backend is disposed.</summary>
    public IGradientOracle Oracle { get; }

    /// <summary>The ILGPU accelerator of a device backend (null for <see cref="Backend.Cpu"/>).</summary>
    public Accelerator? Accelerator => _accelerator;

    /// <summary>Releases the oracle, then the accelerator, then the context.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        (Oracle as IDisposable)?.Dispose();
        _accelerator?.Dispose();
        _context?.Dispose();
    }
}

/// <summary>Creates the gradient oracle of a network on the requested backend.</summary>
public static class GradientBackends
{
    /// <summary>Parses "auto", "cpu", "ilgpu-cpu" or "cuda" (case-insensitive).</summary>
    public static Backend Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Trim().ToUpperInvariant() switch
        {
            "AUTO" => Backend.Auto,
            "CPU" => Backend.Cpu,
            "ILGPU-CPU" => Backend.IlgpuCpu,
            "CUDA" => Backend.Cuda,
            _ => throw new ArgumentException($"Unknown backend '{name}'; expected auto, cpu, ilgpu-cpu or cuda.", nameof(name)),
        };
    }

    /// <summary>The option spelling of a backend.</summary>
    public static string Format(Backend kind) => kind switch
    {
        Backend.Auto => "auto",
        Backend.Cpu => "cpu",
        Backend.IlgpuCpu => "ilgpu-cpu",
        Backend.Cuda => "cuda",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>True when ILGPU finds at least one CUDA device (driver and GPU present).</summary>
    public static bool IsCudaAvailable()
    {
        using Context context = Context.Create(b => b.Default().EnableAlgorithms());
        return context.GetCudaDevices().Count > 0;
    }

    /// <summary>
    /// Creates the oracle on <paramref name="kind"/>. <see cref="Backend.Auto"/> picks CUDA when a CUDA
    /// device is present and the managed CPU evaluator otherwise.
    /// </summary>
    /// <param name="kind">The requested backend.</param>
    /// <param name="network">Shapes, activation and loss.</param>
    /// <param name="inputs">x_1 … x_m, row-major (m × d).</param>
    /// <param name="labels">y_i ∈ {−1, +1}.</param>
    /// <param name="managedCpu">
    /// Creates the managed CPU evaluator (it lives in the Models project, which Kernels does not reference);
    /// called only when the CPU backend is chosen. The backend disposes it if it is <see cref="IDisposable"/>.
    /// </param>
    /// <param name="precision">Device arithmetic; ignored by the managed CPU evaluator.</param>
    /// <exception cref="InvalidOperationException"><see cref="Backend.Cuda"/> requested and no CUDA device exists.</exception>
    public static GradientBackend Create(
        Backend kind, NetworkSpec network, ReadOnlySpan<double> inputs, ReadOnlySpan<double> labels,
        Func<IGradientOracle> managedCpu, Precision precision = Precision.Float64)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(managedCpu);
        switch (kind)
        {
            case Backend.Cpu:
                return Managed(managedCpu);
            case Backend.IlgpuCpu:
            {
                Context context = Context.Create(b => b.CPU().EnableAlgorithms());
                return OnDevice(Backend.IlgpuCpu, context, context.CreateCPUAccelerator(0), network, inputs, labels, precision);
            }

            case Backend.Cuda:
            case Backend.Auto:
            {
                Context context = Context.Create(b => b.Default().EnableAlgorithms());
                if (context.GetCudaDevices().Count > 0)
                {
                    return OnDevice(Backend.Cuda, context, context.CreateCudaAccelerator(0), network, inputs, labels, precision);
                }

                context.Dispose();
                if (kind == Backend.Cuda)
                {
                    throw new InvalidOperationException("Backend 'cuda' was requested but ILGPU finds no CUDA device (no NVIDIA GPU or driver). Use backend 'auto' or 'cpu'.");
                }

                return Managed(managedCpu);
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown backend.");
        }
    }

    private static GradientBackend Managed(Func<IGradientOracle> managedCpu)
    {
        IGradientOracle oracle = managedCpu() ?? throw new InvalidOperationException("The managed CPU evaluator factory returned null.");
        return new GradientBackend(Backend.Cpu, $"managed CPU (up to {Environment.ProcessorCount} threads)", oracle, null, null);
    }

    private static GradientBackend OnDevice(
        Backend kind, Context context, Accelerator accelerator, NetworkSpec network,
        ReadOnlySpan<double> inputs, ReadOnlySpan<double> labels, Precision precision)
    {
        try
        {
            var evaluator = new IlgpuGradientEvaluator(accelerator, network, inputs, labels, precision);
            return new GradientBackend(kind, accelerator.Name, evaluator, context, accelerator);
        }
        catch
        {
            accelerator.Dispose();
            context.Dispose();
            throw;
        }
    }
}
