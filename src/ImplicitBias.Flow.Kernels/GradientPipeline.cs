using System.Numerics;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;
using ILGPU.Runtime;

namespace ImplicitBias.Flow.Kernels;

/// <summary>The precision-independent face of <see cref="GradientPipeline{T, TMax, TAdd}"/>.</summary>
internal interface IGradientPipeline : IDisposable
{
    double Evaluate(ReadOnlySpan<double> theta, Span<double> relativeGradient);

    void ReadMargins(Span<double> margins);

    double EvaluateOnDevice(ArrayView<double> theta, ArrayView<double> relativeGradient);
}

/// <summary>
/// Device buffers and loaded kernels of one network and data set in one precision. Everything is allocated
/// and loaded in the constructor; <see cref="Evaluate"/> only copies θ in, launches kernels on the default
/// stream and copies g/L and log L out (one buffer, one copy).
/// </summary>
/// <typeparam name="T">double or float.</typeparam>
/// <typeparam name="TMax">ILGPU.Algorithms' max reduction of <typeparamref name="T"/>.</typeparam>
/// <typeparam name="TAdd">ILGPU.Algorithms' sum reduction of <typeparamref name="T"/>.</typeparam>
internal sealed class GradientPipeline<T, TMax, TAdd> : IGradientPipeline
    where T : unmanaged, IFloatingPointIeee754<T>
    where TMax : struct, IScanReduceOperation<T>
    where TAdd : struct, IScanReduceOperation<T>
{
    private readonly Accelerator _accelerator;
    private readonly int _samples;
    private readonly int[] _widths; // n_0 = d, n_1 … n_H
    private readonly int _parameterCount;
    private readonly int _activation;
    private readonly int _loss;
    private readonly T _power;

    private readonly MemoryBuffer1D<T, Stride1D.Dense> _inputs;
    private readonly MemoryBuffer1D<T, Stride1D.Dense> _labels;
    private readonly MemoryBuffer1D<T, Stride1D.Dense> _theta;
    private readonly MemoryBuffer1D<T, Stride1D.Dense> _output; // g/L (P entries) then log L
    private readonly MemoryBuffer1D<T, Stride1D.Dense> _pre;
    private readonly MemoryBuffer1D<T, Stride1D.Dense> _act;
    private readonly MemoryBuffer1D<T, Stride1D.Dense> _delta;
    private readonly MemoryBuffer1D<T, Stride1D.Dense> _perSample; // margins, log ℓ, log|ℓ'|, shifted, output delta
    private readonly MemoryBuffer1D<T, Stride1D.Dense> _scalars; // M, S

    // Views cached so that Evaluate builds nothing: activations of layer l (act[0] = inputs), etc.
    private readonly ArrayView<T>[] _actViews;
    private readonly ArrayView<T>[] _preViews;
    private readonly ArrayView<T>[] _deltaViews;
    private readonly ArrayView<T>[] _weightViews; // W_1 … W_H, then u
    private readonly ArrayView<T>[] _gradViews;
    private readonly ArrayView<T> _margins;
    private readonly ArrayView<T> _logLoss;
    private readonly ArrayView<T> _logDeriv;
    private readonly ArrayView<T> _shifted;
    private readonly ArrayView<T> _outputDelta;

    private readonly T[] _hostTheta;
    private readonly T[] _hostOutput;

    private readonly Action<Index2D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int, T> _forwardLayer;
    private readonly Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, ArrayView<T>, ArrayView<T>, ArrayView<T>> _outputKernel;
    private readonly Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>> _shift;
    private readonly Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>> _weights;
    private readonly Action<Index2D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int> _gradientBlock;
    private readonly Action<Index2D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int, T> _backDelta;
    private readonly Reduction<T, Stride1D.Dense> _max;
    private readonly Reduction<T, Stride1D.Dense> _sum;

    public GradientPipeline(Accelerator accelerator, NetworkSpec spec, ReadOnlySpan<double> inputs, ReadOnlySpan<double> labels)
    {
        _accelerator = accelerator;
        _samples = labels.Length;
        int hidden = spec.HiddenWidths.Count;
        _widths = new int[hidden + 1];
        _widths[0] = spec.InputDimension;
        for (int l = 0; l < hidden; l++)
        {
            _widths[l + 1] = spec.HiddenWidths[l];
        }

        _activation = (int)spec.Activation;
        _loss = (int)spec.Loss;
        _power = T.CreateChecked(spec.Activation == ActivationKind.ReluPower ? spec.Power : 1.0);

        int m = _samples;
        int hiddenUnits = 0;
        _parameterCount = 0;
        for (int l = 1; l <= hidden; l++)
        {
            hiddenUnits += _widths[l];
            _parameterCount += _widths[l] * _widths[l - 1];
        }

        _parameterCount += _widths[hidden];

        _inputs = accelerator.Allocate1D<T>((long)m * spec.InputDimension);
        _labels = accelerator.Allocate1D<T>(m);
        _theta = accelerator.Allocate1D<T>(_parameterCount);
        _output = accelerator.Allocate1D<T>(_parameterCount + 1);
        // ILGPU rejects zero-length buffers on some back ends; the linear predictor keeps one dummy entry.
        _pre = accelerator.Allocate1D<T>(Math.Max(1L, (long)m * hiddenUnits));
        _act = accelerator.Allocate1D<T>(Math.Max(1L, (long)m * hiddenUnits));
        _delta = accelerator.Allocate1D<T>(Math.Max(1L, (long)m * hiddenUnits));
        _perSample = accelerator.Allocate1D<T>(5L * m);
        _scalars = accelerator.Allocate1D<T>(2);

        _hostTheta = new T[_parameterCount];
        _hostOutput = new T[_parameterCount + 1];

        var hostInputs = new T[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            hostInputs[i] = T.CreateChecked(inputs[i]);
        }

        var hostLabels = new T[m];
        for (int i = 0; i < m; i++)
        {
            hostLabels[i] = T.CreateChecked(labels[i]);
        }

        _inputs.View.CopyFromCPU(hostInputs);
        _labels.View.CopyFromCPU(hostLabels);

        _actViews = new ArrayView<T>[hidden + 1];
        _preViews = new ArrayView<T>[hidden + 1];
        _deltaViews = new ArrayView<T>[hidden + 1];
        _actViews[0] = _inputs.View;
        long offset = 0;
        for (int l = 1; l <= hidden; l++)
        {
            long length = (long)m * _widths[l];
            _preViews[l] = _pre.View.SubView(offset, length);
            _actViews[l] = _act.View.SubView(offset, length);
            _deltaViews[l] = _delta.View.SubView(offset, length);
            offset += length;
        }

        _weightViews = new ArrayView<T>[hidden + 1];
        _gradViews = new ArrayView<T>[hidden + 1];
        long p = 0;
        for (int l = 1; l <= hidden + 1; l++)
        {
            long length = l <= hidden ? (long)_widths[l] * _widths[l - 1] : _widths[hidden];
            _weightViews[l - 1] = _theta.View.SubView(p, length);
            _gradViews[l - 1] = _output.View.SubView(p, length);
            p += length;
        }

        _margins = _perSample.View.SubView(0, m);
        _logLoss = _perSample.View.SubView(m, m);
        _logDeriv = _perSample.View.SubView(2L * m, m);
        _shifted = _perSample.View.SubView(3L * m, m);
        _outputDelta = _perSample.View.SubView(4L * m, m);

        _forwardLayer = accelerator.LoadAutoGroupedStreamKernel<Index2D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int, T>(NetworkKernels.ForwardLayer);
        _outputKernel = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, ArrayView<T>, ArrayView<T>, ArrayView<T>>(NetworkKernels.Output);
        _shift = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>>(NetworkKernels.Shift);
        _weights = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>>(NetworkKernels.Weights);
        _gradientBlock = accelerator.LoadAutoGroupedStreamKernel<Index2D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int>(NetworkKernels.GradientBlock);
        _backDelta = accelerator.LoadAutoGroupedStreamKernel<Index2D, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int, T>(NetworkKernels.BackDelta);
        _max = accelerator.CreateReduction<T, Stride1D.Dense, TMax>();
        _sum = accelerator.CreateReduction<T, Stride1D.Dense, TAdd>();
    }

    public double Evaluate(ReadOnlySpan<double> theta, Span<double> relativeGradient)
    {
        if (theta.Length != _parameterCount || relativeGradient.Length != _parameterCount)
        {
            throw new ArgumentException($"θ and the gradient need {_parameterCount} entries, not {theta.Length} and {relativeGradient.Length}.");
        }

        if (typeof(T) == typeof(double))
        {
            ((ArrayView<T>)_theta.View).CopyFromCPU(MemoryMarshal.Cast<double, T>(theta));
        }
        else
        {
            for (int i = 0; i < theta.Length; i++)
            {
                _hostTheta[i] = T.CreateTruncating(theta[i]);
            }

            ((ArrayView<T>)_theta.View).CopyFromCPU<T, ArrayView<T>>(_hostTheta.AsSpan());
        }

        Launch();

        T[] host = _hostOutput;
        ((ArrayView<T>)_output.View).CopyToCPU<T, ArrayView<T>>(host.AsSpan());
        for (int i = 0; i < _parameterCount; i++)
        {
            relativeGradient[i] = double.CreateTruncating(host[i]);
        }

        return double.CreateTruncating(host[_parameterCount]);
    }

    public double EvaluateOnDevice(ArrayView<double> theta, ArrayView<double> relativeGradient)
    {
        if (typeof(T) != typeof(double))
        {
            throw new NotSupportedException("Device-resident evaluation needs Precision.Float64 (device states are double).");
        }

        if (theta.Length != _parameterCount || relativeGradient.Length != _parameterCount)
        {
            throw new ArgumentException($"θ and the gradient need {_parameterCount} entries, not {theta.Length} and {relativeGradient.Length}.");
        }

        // Device-to-device copies: the kernels' weight views are fixed sub-views of the pipeline's own θ.
        ArrayView<double> ownTheta = ((ArrayView<T>)_theta.View).Cast<double>();
        theta.CopyTo(ownTheta);
        Launch();
        ArrayView<double> output = ((ArrayView<T>)_output.View).Cast<double>();
        output.SubView(0, _parameterCount).CopyTo(relativeGradient);
        ((ArrayView<T>)_output.View).SubView(_parameterCount, 1).CopyToCPU(_hostOutput.AsSpan(0, 1));
        return double.CreateTruncating(_hostOutput[0]);
    }

    public void ReadMargins(Span<double> margins)
    {
        if (margins.Length != _samples)
        {
            throw new ArgumentException($"Margins need {_samples} entries, not {margins.Length}.", nameof(margins));
        }

        Span<T> host = _hostOutput.Length >= _samples ? _hostOutput.AsSpan(0, _samples) : new T[_samples];
        _margins.CopyToCPU(host);
        for (int i = 0; i < _samples; i++)
        {
            margins[i] = double.CreateTruncating(host[i]);
        }
    }

    private void Launch()
    {
        int hidden = _widths.Length - 1;
        int m = _samples;
        for (int l = 1; l <= hidden; l++)
        {
            _forwardLayer(new Index2D(m, _widths[l]), _actViews[l - 1], _weightViews[l - 1], _preViews[l], _actViews[l], _widths[l - 1], _widths[l], _activation, _power);
        }

        _outputKernel(m, _actViews[hidden], _weightViews[hidden], _labels.View, _widths[hidden], _loss, _margins, _logLoss, _logDeriv);

        // log L = M + log Σ exp(log ℓ_i − M): both reductions are ILGPU.Algorithms' (they reset their output).
        AcceleratorStream stream = _accelerator.DefaultStream;
        _max(stream, _logLoss, _scalars.View.SubView(0, 1));
        _shift(m, _logLoss, _scalars.View, _shifted);
        _sum(stream, _shifted, _scalars.View.SubView(1, 1));
        _weights(m, _logDeriv, _labels.View, _scalars.View, _outputDelta, _output.View.SubView(_parameterCount, 1));

        // Output row: g_u[k] = Σ_i δ_i a_H[i, k] (a 1 × n_H block with "width" 1).
        _gradientBlock(new Index2D(1, _widths[hidden]), _outputDelta, _actViews[hidden], _gradViews[hidden], m, _widths[hidden], 1);

        ArrayView<T> deltaAbove = _outputDelta;
        int widthAbove = 1;
        for (int l = hidden; l >= 1; l--)
        {
            _backDelta(new Index2D(m, _widths[l]), deltaAbove, _weightViews[l], _preViews[l], _deltaViews[l], _widths[l], widthAbove, _activation, _power);
            _gradientBlock(new Index2D(_widths[l], _widths[l - 1]), _deltaViews[l], _actViews[l - 1], _gradViews[l - 1], m, _widths[l - 1], _widths[l]);
            deltaAbove = _deltaViews[l];
            widthAbove = _widths[l];
        }
    }

    public void Dispose()
    {
        // Buffers only; the accelerator belongs to the caller.
        _scalars.Dispose();
        _perSample.Dispose();
        _delta.Dispose();
        _act.Dispose();
        _pre.Dispose();
        _output.Dispose();
        _theta.Dispose();
        _labels.Dispose();
        _inputs.Dispose();
    }
}
