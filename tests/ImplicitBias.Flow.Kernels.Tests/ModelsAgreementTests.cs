using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Solvers;
using ModelActivation = ImplicitBias.Flow.Models.Networks.Activation;

namespace ImplicitBias.Flow.Kernels.Tests;

/// <summary>The ILGPU evaluator (CPU accelerator) against the Models project's LossEvaluator, via <see cref="NetworkSpec.From"/>.</summary>
public sealed class ModelsAgreementTests
{
    public static TheoryData<string, int, string> Cases()
    {
        var data = new TheoryData<string, int, string>();
        foreach (string a in new[] { "relu", "relu^2", "relu^1.5", "quadratic", "identity" })
        {
            foreach (int depth in new[] { 1, 2, 3 })
            {
                foreach (string l in new[] { "exponential", "logistic" })
                {
                    data.Add(a, depth, l);
                }
            }
        }

        return data;
    }

    private static ModelActivation ParseActivation(string a) => a switch
    {
        "relu" => ModelActivation.Relu,
        "relu^2" => ModelActivation.SquaredRelu,
        "relu^1.5" => ModelActivation.ReluPower(1.5),
        "quadratic" => ModelActivation.Quadratic,
        _ => ModelActivation.Identity,
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void IlgpuCpu_AgreesWithLossEvaluator(string activation, int depth, string loss)
    {
        Dataset data = SyntheticData.Gaussian(12, 4, seed: 3);
        var network = new FullyConnectedNetwork(4, Enumerable.Repeat(5, depth - 1).ToArray(), ParseActivation(activation));
        Loss l = loss == "logistic" ? Loss.Logistic : Loss.Exponential;
        var evaluator = new LossEvaluator(network, data, l, maxDegreeOfParallelism: 1);
        double[] theta = Initialization.KaimingNormal(network.Layout, seed: 5, scale: 1.0);
        using GradientBackend backend = GradientBackends.Create(Backend.IlgpuCpu, NetworkSpec.From(network, l), data.X, data.Y, () => new ModelOracle(evaluator));
        var gDevice = new double[theta.Length];
        var gHost = new double[theta.Length];
        double logDevice = backend.Oracle.Evaluate(theta, gDevice);
        double logHost = evaluator.Evaluate(theta, gHost);
        Assert.True(Math.Abs(logDevice - logHost) <= 1e-12 * Math.Max(1, Math.Abs(logHost)), $"log L {logDevice} vs {logHost}");
        double scale = gHost.Max(Math.Abs);
        for (int j = 0; j < theta.Length; j++)
        {
            Assert.True(Math.Abs(gDevice[j] - gHost[j]) <= 1e-12 * scale, $"g/L[{j}] {gDevice[j]} vs {gHost[j]}");
        }
    }

    /// <summary>
    /// A whole flow to t = 100 (tens to hundreds of steps) on the ILGPU CPU accelerator ends within the solver tolerance of the
    /// same flow on the managed ModelOracle: the evaluators agree to ~1e-13, so the adaptive step sequences
    /// coincide up to rounding and the final states differ by far less than rtol = 1e-6.
    /// </summary>
    [Theory]
    [InlineData("adam")]
    [InlineData("muon")]
    public void WholeFlow_OnIlgpuCpu_MatchesTheManagedOracle(string optimizer)
    {
        Dataset data = SyntheticData.Gaussian(16, 4, seed: 4);
        var network = new FullyConnectedNetwork(4, [6], ModelActivation.SquaredRelu);
        double[] theta0 = Initialization.KaimingNormal(network.Layout, seed: 2, scale: 0.5);
        var options = new FlowSolveOptions { TargetLogLoss = double.NegativeInfinity, MaxTime = 100, SaveAt = SaveAt.Nothing, KeepSavedStates = false, MaxSteps = 600 };

        OdeResult Run(IGradientOracle oracle) =>
            FlowSolver.Solve(new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec(optimizer, 0.3), network.Layout), power: 0.8), theta0, options);

        OdeResult host = Run(new ModelOracle(new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1)));
        using GradientBackend backend = GradientBackends.Create(Backend.IlgpuCpu, NetworkSpec.From(network, Loss.Exponential), data.X, data.Y, () => throw new InvalidOperationException("not the managed backend"));
        OdeResult device = Run(backend.Oracle);

        Assert.Equal(OdeStatus.Success, host.Status);
        Assert.Equal(OdeStatus.Success, device.Status);
        Assert.Equal(host.AcceptedSteps, device.AcceptedSteps);
        Assert.InRange(host.AcceptedSteps, 10, 600);
        
        for (int j = 0; j < theta0.Length; j++)
        {
            Assert.True(Math.Abs(host.FinalState[j] - device.FinalState[j]) <= 1e-6 * Math.Max(1, Math.Abs(host.FinalState[j])), $"{optimizer}: θ[{j}] {host.FinalState[j]} vs {device.FinalState[j]}");
        }
    }
}
