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
}
