using ILGPU.Algorithms.ScanReduceOperations;
using ILGPU.Runtime;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Flows;

namespace ImplicitBias.Flow.Kernels;

/// <summary>
/// log L(θ) and g/L = ∇ log L of a bias-free fully connected network on an ILGPU accelerator (CUDA or
/// ILGPU's CPU accelerator), behind the same <see cref="IGradientOracle"/> the flows use on the host.
/// Kernels are loaded and buffers allocated once, in the constructor; each evaluation copies θ to the
/// device, runs forward, log-sum-exp and backward kernels, and copies g/L and log L back in one transfer.
/// The accelerator belongs to the caller and must outlive this evaluator.
/// </summary>
public sealed class IlgpuGradientEvaluator : IGradientOracle, IDisposable
{
    private readonly IGradientPipeline _pipeline;
    private bool _disposed;

    /// <summary>
    /// Uploads the data set and prepares the kernels.
    /// </summary>
    /// <param name="accelerator">The device; not owned.</param>
    /// <param name="network">Shapes, activation and loss.</param>
    /// <param name="inputs">x_1 … x_m, row-major (m × d).</param>
    /// <param name="labels">y_i ∈ {−1, +1}.</param>
    /// <param name="precision">Arithmetic on the device; <see cref="Precision.Float64"/> unless speed matters more than ~1e-5 accuracy.</param>
    public IlgpuGradientEvaluator(Accelerator accelerator, NetworkSpec network, ReadOnlySpan<double> inputs, ReadOnlySpan<double> labels, Precision precision = Precision.Float64)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        ArgumentNullException.ThrowIfNull(network);
        network.Validate();
        if (labels.Length == 0)
        {
            throw new ArgumentException("The data set is empty.", nameof(labels));
        }

        if (inputs.Length != labels.Length * network.InputDimension)
        {
            throw new ArgumentException($"{labels.Length} samples of dimension {network.InputDimension} need {labels.Length * network.InputDimension} inputs, not {inputs.Length}.", nameof(inputs));
        }

        Network = network;
        Precision = precision;
        SampleCount = labels.Length;
        Layout = ParameterLayout.FullyConnected(network.InputDimension, network.HiddenWidths);
        DeviceName = accelerator.Name;
        _pipeline = precision == Precision.Float64
            ? new GradientPipeline<double, MaxDouble, AddDouble>(accelerator, network, inputs, labels)
            : new GradientPipeline<float, MaxFloat, AddFloat>(accelerator, network, inputs, labels);
    }

    /// <inheritdoc />
    public ParameterLayout Layout { get; }

    /// <summary>The network this evaluator computes.</summary>
    public NetworkSpec Network { get; }

    /// <summary>The arithmetic precision on the device.</summary>
    public Precision Precision { get; }

    /// <summary>Number of samples m.</summary>
    public int SampleCount { get; }

    /// <summary>The accelerator's device name.</summary>
    public string DeviceName { get; }

    /// <inheritdoc />
    public double Evaluate(ReadOnlySpan<double> theta, Span<double> relativeGradient)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _pipeline.Evaluate(theta, relativeGradient);
    }

    /// <summary>
    /// The same as <see cref="Evaluate"/> with θ and g/L in device memory of this evaluator's accelerator
    /// (e.g. <see cref="DeviceState"/> views), so that a device-resident solve moves only log L to the host.
    /// Needs <see cref="Precision.Float64"/>.
    /// </summary>
    public double EvaluateOnDevice(ILGPU.ArrayView<double> theta, ILGPU.ArrayView<double> relativeGradient)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _pipeline.EvaluateOnDevice(theta, relativeGradient);
    }

    /// <summary>The margins z_i = y_i f(x_i; θ) of the last <see cref="Evaluate"/>.</summary>
    public void ReadMargins(Span<double> margins)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _pipeline.ReadMargins(margins);
    }

    /// <summary>Frees the device buffers (not the accelerator).</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _pipeline.Dispose();
        }
    }
}
