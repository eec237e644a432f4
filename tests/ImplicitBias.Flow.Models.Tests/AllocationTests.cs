using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Models.Tests;

public class AllocationTests
{
    private static long AllocatedPerCall(int m)
    {
        var data = SyntheticData.Gaussian(m, 30, 1);
        var net = new FullyConnectedNetwork(30, [20], Activation.SquaredRelu);
        var theta = Initialization.KaimingNormal(net.Layout, 1, 1.0);
        var eval = new LossEvaluator(net, data, Loss.Logistic, 1);
        var g = new double[theta.Length];
        for (int k = 0; k < 3; k++)
        {
            eval.Evaluate(theta, g);
        }

        const int calls = 20;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int k = 0; k < calls; k++)
        {
            eval.Evaluate(theta, g);
            eval.SampleOutputGradient(theta, 0, g);
        }

        return (GC.GetAllocatedBytesForCurrentThread() - before) / calls;
    }

    [Fact]
    public void Evaluate_AllocatesOnlyParallelForBookkeeping_IndependentOfM()
    {
        // Parallel.For allocates a small amount of bookkeeping per call (its loop state); the evaluator itself
        // allocates nothing. The bound must not grow with m.
        long small = AllocatedPerCall(100);
        long large = AllocatedPerCall(4000);
        // Measured: about 4.3 KB per Evaluate + SampleOutputGradient (three Parallel.For calls) on .NET 10.
        Assert.True(small <= 8192, $"small m: {small} B/call");
        Assert.True(large <= 8192, $"large m: {large} B/call");
        Assert.True(Math.Abs(large - small) <= 1024, $"{small} vs {large}");
    }
}
