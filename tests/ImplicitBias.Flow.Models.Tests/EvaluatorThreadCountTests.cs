using ImplicitBias.Flow.Core.Threading;
using ImplicitBias.Flow.Models.Evaluation;

namespace ImplicitBias.Flow.Models.Tests;

/// <summary>"All cores" is one thread for a problem too small to share; an explicit count is honoured.</summary>
public class EvaluatorThreadCountTests
{
    [Fact]
    public void AllCores_OnASmallProblem_IsOneThread_AndAnExplicitCountIsHonoured()
    {
        var network = new Networks.FullyConnectedNetwork(5, [10], Networks.Activation.SquaredRelu);
        Data.Dataset small = Data.SyntheticData.Gaussian(32, 5, 4); // 32 × 70 multiply-adds
        Assert.True(32L * network.Layout.Length < LossEvaluator.MinParallelMultiplyAdds);
        Assert.Equal(1, new LossEvaluator(network, small, Losses.Loss.Exponential).Parts);
        Assert.Equal(Math.Min(2, WorkerTeam.Shared.MaxParts), new LossEvaluator(network, small, Losses.Loss.Exponential, maxDegreeOfParallelism: 2).Parts);

        // MNIST-sized (2,048 samples, 784 inputs, width 10): every core.
        var wide = new Networks.FullyConnectedNetwork(784, [10], Networks.Activation.SquaredRelu);
        Data.Dataset large = Data.SyntheticData.Gaussian(2048, 784, 1);
        Assert.Equal(Math.Min(Environment.ProcessorCount, WorkerTeam.Shared.MaxParts), new LossEvaluator(wide, large, Losses.Loss.Exponential).Parts);
    }

    [Fact]
    public void SmallProblem_GivesTheSameGradientWithOneThreadAsWithTwo()
    {
        var network = new Networks.FullyConnectedNetwork(5, [10], Networks.Activation.SquaredRelu);
        Data.Dataset small = Data.SyntheticData.Gaussian(32, 5, 4);
        double[] theta = Networks.Initialization.KaimingNormal(network.Layout, 2, 0.5);
        var one = new double[theta.Length];
        var two = new double[theta.Length];
        double a = new LossEvaluator(network, small, Losses.Loss.Exponential).Evaluate(theta, one);
        double b = new LossEvaluator(network, small, Losses.Loss.Exponential, maxDegreeOfParallelism: 2).Evaluate(theta, two);
        Assert.Equal(b, a);
        Assert.Equal(two, one);
    }
}
