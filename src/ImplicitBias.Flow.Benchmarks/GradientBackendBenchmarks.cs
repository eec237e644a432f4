using BenchmarkDotNet.Attributes;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ImplicitBias.Flow.Kernels;

namespace ImplicitBias.Flow.Benchmarks;

/// <summary>
/// One gradient of a two-layer ReLU network (m = 256, d = 64, width 32, exponential loss): plain
/// single-threaded loops against the ILGPU kernels on ILGPU's CPU accelerator (which is a correctness tool,
/// not a fast path). Run: <c>dotnet run -c Release --project src/ImplicitBias.Flow.Benchmarks -- --filter '*GradientBackend*'</c>.
/// </summary>
[MemoryDiagnoser]
// Not sealed: BenchmarkDotNet rejects benchmarks declared in a sealed class.
public class GradientBackendBenchmarks : IDisposable
{
    private const int Samples = 256;
    private const int Dimension = 64;
    private const int Width = 32;

    private Context? _context;
    private Accelerator? _accelerator;
    private IlgpuGradientEvaluator? _ilgpu;
    private PlainLoopGradient? _plain;
    private double[] _theta = [];
    private double[] _gradient = [];

    /// <summary>Builds the data, both evaluators and θ.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(7);
        var x = new double[Samples * Dimension];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (2 * random.NextDouble()) - 1;
        }

        var y = new double[Samples];
        for (int i = 0; i < Samples; i++)
        {
            y[i] = random.Next(2) == 0 ? -1 : 1;
        }

        var spec = new NetworkSpec(Dimension, [Width], ActivationKind.Relu, 0, LossKind.Exponential);
        _context = Context.Create(b => b.CPU().EnableAlgorithms());
        _accelerator = _context.CreateCPUAccelerator(0);
        _ilgpu = new IlgpuGradientEvaluator(_accelerator, spec, x, y);
        _plain = new PlainLoopGradient(x, y, Dimension, Width);
        _theta = new double[_ilgpu.Layout.Length];
        for (int i = 0; i < _theta.Length; i++)
        {
            _theta[i] = ((2 * random.NextDouble()) - 1) / Math.Sqrt(Dimension);
        }

        _gradient = new double[_theta.Length];
    }

    /// <summary>Plain loops, one thread.</summary>
    [Benchmark(Baseline = true)]
    public double PlainLoops() => _plain!.Evaluate(_theta, _gradient);

    /// <summary>ILGPU kernels on ILGPU's CPU accelerator.</summary>
    [Benchmark]
    public double IlgpuCpuAccelerator() => _ilgpu!.Evaluate(_theta, _gradient);

    /// <summary>Releases the evaluator, accelerator and context in reverse order.</summary>
    [GlobalCleanup]
    public void Dispose()
    {
        _ilgpu?.Dispose();
        _accelerator?.Dispose();
        _context?.Dispose();
        _ilgpu = null;
        _accelerator = null;
        _context = null;
        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// The baseline: a two-layer ReLU network's log L and g/L with exponential loss in plain loops over
/// preallocated arrays (what a straightforward managed implementation costs, without SIMD or threads).
/// </summary>
public sealed class PlainLoopGradient
{
    private readonly double[] _x;
    private readonly double[] _y;
    private readonly int _d;
    private readonly int _k;
    private readonly double[] _pre;
    private readonly double[] _logLoss;
    private readonly double[] _delta;

    /// <summary>Holds the data set (row-major inputs, labels) and allocates the scratch once.</summary>
    public PlainLoopGradient(double[] x, double[] y, int d, int k)
    {
        ArgumentNullException.ThrowIfNull(y);
        _x = x;
        _y = y;
        _d = d;
        _k = k;
        _pre = new double[y.Length * k];
        _logLoss = new double[y.Length];
        _delta = new double[y.Length];
    }

    /// <summary>Writes g/L for θ = (W, u) and returns log L.</summary>
    public double Evaluate(double[] theta, double[] gradient)
    {
        ArgumentNullException.ThrowIfNull(theta);
        ArgumentNullException.ThrowIfNull(gradient);
        int m = _y.Length;
        int uOffset = _k * _d;
        double max = double.NegativeInfinity;
        for (int i = 0; i < m; i++)
        {
            double f = 0;
            for (int j = 0; j < _k; j++)
            {
                double s = 0;
                for (int c = 0; c < _d; c++)
                {
                    s += theta[(j * _d) + c] * _x[(i * _d) + c];
                }

                _pre[(i * _k) + j] = s;
                f += theta[uOffset + j] * Math.Max(0, s);
            }

            _logLoss[i] = -_y[i] * f;
            max = Math.Max(max, _logLoss[i]);
        }

        double sum = 0;
        for (int i = 0; i < m; i++)
        {
            sum += Math.Exp(_logLoss[i] - max);
        }

        double logL = max + Math.Log(sum);
        Array.Clear(gradient);
        for (int i = 0; i < m; i++)
        {
            _delta[i] = -_y[i] * Math.Exp(_logLoss[i] - logL);
            for (int j = 0; j < _k; j++)
            {
                double h = _pre[(i * _k) + j];
                gradient[uOffset + j] += _delta[i] * Math.Max(0, h);
                if (h > 0)
                {
                    double back = _delta[i] * theta[uOffset + j];
                    for (int c = 0; c < _d; c++)
                    {
                        gradient[(j * _d) + c] += back * _x[(i * _d) + c];
                    }
                }
            }
        }

        return logL;
    }
}
