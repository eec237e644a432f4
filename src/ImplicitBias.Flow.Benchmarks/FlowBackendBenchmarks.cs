using BenchmarkDotNet.Attributes;
using ILGPU;
using ILGPU.Runtime;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Kernels;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Solvers;

namespace ImplicitBias.Flow.Benchmarks;

/// <summary>
/// One gradient and one short flow solve per backend, each on the path a run takes there:
/// <list type="bullet">
/// <item><c>cpu</c>: the managed LossEvaluator (all cores) and the host solve (OptimizerFlow over HostStateAlgebra);</item>
/// <item><c>ilgpu-cpu</c>, <c>cuda</c>: <see cref="IlgpuGradientEvaluator.EvaluateOnDevice"/> on device-resident θ and
/// the device-resident solve (<see cref="DeviceFlowSolver"/>: DeviceOptimizerFlow over IlgpuStateAlgebra).</item>
/// </list>
/// Sizes (two-layer squared ReLU, exponential loss, synthetic Gaussian data): <c>paper</c> m = 2048, d = 784,
/// width 100 (the MNIST subset's shape); <c>large</c> m = 20480 (10× the data), CUDA only; <c>small</c>
/// m = 256, d = 64, width 32, for ILGPU's CPU accelerator (≈ 90× slower than plain loops) with a <c>cpu</c> row to
/// compare. CUDA cases exist only when ILGPU finds a CUDA device, so the class runs cleanly without one.
/// The solve is Adam (η0 = 0.1, a = 0.8) by fixed-step RK4, 5 steps to t = 5: 21 gradients, whatever the path.
/// Run: <c>dotnet run -c Release --project src/ImplicitBias.Flow.Benchmarks -- --filter '*FlowBackend*' --job short</c>.
/// </summary>
[MemoryDiagnoser]
// Not sealed: BenchmarkDotNet rejects benchmarks declared in a sealed class.
public class FlowBackendBenchmarks : IDisposable
{
    private const int SolveSteps = 5;

    private GradientBackend? _backend;
    private DeviceFlowSolver? _device;
    private MemoryBuffer1D<double, Stride1D.Dense>? _deviceTheta;
    private MemoryBuffer1D<double, Stride1D.Dense>? _deviceGradient;
    private OptimizerFlow? _flow;
    private double[] _theta = [];
    private double[] _gradient = [];

    /// <summary>"backend/size": cpu/paper, cpu/small, ilgpu-cpu/small, and cuda/paper, cuda/large when CUDA is present.</summary>
    [ParamsSource(nameof(Cases))]
    public string Case { get; set; } = "cpu/small";

    /// <summary>The cases this machine can run.</summary>
    public static IEnumerable<string> Cases()
    {
        yield return "cpu/paper";
        yield return "cpu/small";
        yield return "ilgpu-cpu/small";
        if (GradientBackends.IsCudaAvailable())
        {
            yield return "cuda/paper";
            yield return "cuda/large";
        }
    }

    /// <summary>Builds the data, the backend, θ(0) and the flow of <see cref="Case"/>.</summary>
    [GlobalSetup]
    public void Setup()
    {
        string[] parts = Case.Split('/');
        Backend kind = GradientBackends.Parse(parts[0]);
        (int m, int d, int k) = parts[1] switch
        {
            "paper" => (2048, 784, 100),
            "large" => (20480, 784, 100),
            "small" => (256, 64, 32),
            _ => throw new ArgumentException($"Unknown size '{parts[1]}'."),
        };

        Dataset data = SyntheticData.Gaussian(m, d, 1);
        var network = new FullyConnectedNetwork(d, [k], Activation.SquaredRelu);
        _theta = Initialization.KaimingNormal(network.Layout, 1, 1.0);
        _gradient = new double[_theta.Length];
        _backend = GradientBackends.Create(kind, NetworkSpec.From(network, Loss.Exponential), data.X, data.Y, () => new ModelOracle(new LossEvaluator(network, data, Loss.Exponential)));
        _device = DeviceFlowSolver.For(_backend);
        if (_backend.Accelerator is { } accelerator)
        {
            _deviceTheta = accelerator.Allocate1D(_theta);
            _deviceGradient = accelerator.Allocate1D<double>(_theta.Length);
        }

        _flow = new OptimizerFlow(_backend.Oracle, OptimizerCatalog.Parts(new OptimizerSpec("adam", 0.1), network.Layout), power: 0.8);
    }

    /// <summary>One log L and g/L (device-resident θ and g/L on the ILGPU backends).</summary>
    [Benchmark]
    public double Gradient() =>
        _backend!.Oracle is IlgpuGradientEvaluator evaluator && _deviceTheta is not null
            ? evaluator.EvaluateOnDevice(_deviceTheta.View, _deviceGradient!.View)
            : _backend.Oracle.Evaluate(_theta, _gradient);

    /// <summary>A short Adam flow solve (5 fixed RK4 steps) with the state on the backend's own side.</summary>
    [Benchmark]
    public double FlowSolve()
    {
        var options = new FlowSolveOptions
        {
            Method = "rk4",
            MaxTime = SolveSteps,
            MaxSteps = SolveSteps,
            TargetLogLoss = double.NegativeInfinity,
            SaveAt = SaveAt.Nothing,
            KeepSavedStates = false,
            Engine = _device,
        };
        OdeResult result = FlowSolver.Solve(_flow!, _theta, options);
        return result.FinalState[_flow!.Parameters.Length];
    }

    /// <summary>Releases the device buffers, then the backend (evaluator, accelerator, context).</summary>
    [GlobalCleanup]
    public void Dispose()
    {
        _deviceGradient?.Dispose();
        _deviceTheta?.Dispose();
        _backend?.Dispose();
        _deviceGradient = null;
        _deviceTheta = null;
        _backend = null;
        GC.SuppressFinalize(this);
    }
}
