using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Core.Threading;

namespace ImplicitBias.Flow.Models.Tests;

[Collection(RunsAlone.Name)]
public class AllocationTests
{
    private static (long Thread, long Workers) AllocatedPerCall(int m, int depth, int threads, int width, bool float32 = false)
    {
        var data = SyntheticData.Gaussian(m, 30, 1);
        int[] widths = depth switch { 1 => [], 2 => [width], _ => [width, 10] };
        var net = new FullyConnectedNetwork(30, widths, Activation.SquaredRelu);
        var theta = Initialization.KaimingNormal(net.Layout, 1, 1.0);
        var eval = new LossEvaluator(net, data, Loss.Logistic, threads);
        if (float32)
        {
            eval.Float32 = true;
        }

        var g = new double[theta.Length];
        for (int k = 0; k < 5; k++)
        {
            eval.Evaluate(theta, g);
            eval.SampleOutputGradient(theta, 0, g);
        }

        // Steady state: the runtime itself may allocate a few bytes once (tiering, lazily created wait handles), so
        // the least of several rounds is taken; an evaluator that allocated per call would show in every round.
        const int calls = 20;
        (long Thread, long Workers) least = (long.MaxValue, long.MaxValue);
        for (int round = 0; round < 10 && (least.Thread > 0 || least.Workers > 0); round++)
        {
            long thread = GC.GetAllocatedBytesForCurrentThread();
            long workers = WorkerTeam.Shared.WorkerAllocatedBytes;
            for (int k = 0; k < calls; k++)
            {
                eval.Evaluate(theta, g);
                eval.SampleOutputGradient(theta, 0, g);
            }

            least = (Math.Min(least.Thread, GC.GetAllocatedBytesForCurrentThread() - thread), Math.Min(least.Workers, WorkerTeam.Shared.WorkerAllocatedBytes - workers));
        }

        return least;
    }

    // Widths ≤ 20 take the fused pass on AVX-512 machines, width 30 the two-pass path.
    [Theory]
    [InlineData(100, 2, 1, 20)]
    [InlineData(4000, 2, 1, 20)]
    [InlineData(4000, 2, -1, 10)]
    [InlineData(3000, 3, -1, 20)]
    [InlineData(3000, 2, -1, 30)]
    [InlineData(3000, 3, -1, 30)]
    public void Evaluate_AllocatesNothing(int m, int depth, int threads, int width)
    {
        // The calling thread and the team's worker threads (each records its own count after every part; a
        // process-wide count would also see the test host's threads).
        var (thread, workers) = AllocatedPerCall(m, depth, threads, width);
        Assert.Equal(0, thread);
        Assert.Equal(0, workers);
    }

    // Widths ≤ 20: the fused pass's float32 products on AVX-512 machines; widths 30 and 100 and depth 1: the
    // two-pass path's float32 tiles (everywhere).
    [Theory]
    [InlineData(4000, 2, -1, 20)]
    [InlineData(3000, 3, 1, 10)]
    [InlineData(3000, 1, -1, 1)]
    [InlineData(3000, 2, -1, 100)]
    [InlineData(3000, 3, -1, 30)]
    [InlineData(100, 3, 1, 100)]
    public void Evaluate_AllocatesNothing_InFloat32(int m, int depth, int threads, int width)
    {
        var (thread, workers) = AllocatedPerCall(m, depth, threads, width, float32: true);
        Assert.Equal(0, thread);
        Assert.Equal(0, workers);
    }
}
