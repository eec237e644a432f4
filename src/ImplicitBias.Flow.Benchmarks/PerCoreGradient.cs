using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project src/ImplicitBias.Flow.Benchmarks -- percore [ROUNDS]</c>: one gradient at
/// m = 2048, d = 784, widths 10, 20, 100, depth 2 and 3, on one thread, timed by the thread's own CPU clock (on
/// Linux; the wall clock elsewhere), best of the rounds, with the fused single pass and with the two-pass path
/// alternating, against the same kernel's square n = 2000 product: the README's per-core table. The thread's CPU
/// clock does not count the time other jobs take the core, so the figures hold on a shared machine where wall
/// clocks and both-thread runs do not (what the other jobs do to the caches still counts).
/// </summary>
internal static partial class PerCoreGradient
{
    public static void Run(int rounds)
    {
        const int m = 2048, d = 784;
        var data = SyntheticData.Gaussian(m, d, 1);
        var gemm = new SquareGemm(2000, 1);
        double peakMs = double.PositiveInfinity;
        for (int r = 0; r < 5; r++)
        {
            peakMs = Math.Min(peakMs, Milliseconds(gemm.Run));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"one thread, {(OperatingSystem.IsLinux() ? "thread CPU time" : "wall clock")}, best of {rounds}; {PackedGemm.Path} kernel"));
        Console.WriteLine($"{"width",5} {"depth",5} {"GFLOP",7} {"ms",8} {"of peak",8} {"two-pass ms",12} {"of peak",8}");
        foreach (int depth in new[] { 2, 3 })
        {
            foreach (int width in new[] { 10, 20, 100 })
            {
                var network = new FullyConnectedNetwork(d, [.. Enumerable.Repeat(width, depth - 1)], Activation.SquaredRelu);
                double[] theta = Initialization.KaimingNormal(network.Layout, 1, 1.0);
                var gradient = new double[theta.Length];
                var evaluator = new LossEvaluator(network, data, Loss.Exponential, 1);
                double flops = 0;
                for (int l = 1; l <= depth; l++)
                {
                    double nIn = network.Widths[l - 1], nOut = l < depth ? network.Widths[l] : 1;
                    flops += 2.0 * m * nIn * nOut * (l >= 2 ? 3 : 2);
                }

                double fused = double.PositiveInfinity, twoPass = double.PositiveInfinity;
                int count = width >= 100 ? Math.Max(2, rounds / 4) : rounds;
                for (int r = 0; r < count; r++)
                {
                    evaluator.UseFusedPass = true;
                    fused = Math.Min(fused, Milliseconds(() => evaluator.Evaluate(theta, gradient)));
                    evaluator.UseFusedPass = false;
                    twoPass = Math.Min(twoPass, Milliseconds(() => evaluator.Evaluate(theta, gradient)));
                    if (r % 10 == 9)
                    {
                        peakMs = Math.Min(peakMs, Milliseconds(gemm.Run));
                    }
                }

                double peak = gemm.Flops / peakMs;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{width,5} {depth,5} {flops / 1e9,7:0.000} {fused,8:0.000} {flops / fused / peak,8:0.00} {twoPass,12:0.000} {flops / twoPass / peak,8:0.00}"));
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak: the same kernel's square n = 2000 product, packing included, one thread: {gemm.Flops / peakMs / 1e6:0.0} GFLOP/s"));
    }

    // One warm-up call, then one timed call.
    private static double Milliseconds(Action call)
    {
        call();
        double start = Now();
        call();
        return Now() - start;
    }

    private static double Now()
    {
        if (OperatingSystem.IsLinux())
        {
            _ = ClockGetTime(ThreadCpuClock, out Timespec t);
            return (t.Seconds * 1e3) + (t.Nanoseconds * 1e-6);
        }

        return Stopwatch.GetTimestamp() * 1e3 / Stopwatch.Frequency;
    }

    private const int ThreadCpuClock = 3; // CLOCK_THREAD_CPUTIME_ID

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out Timespec time);
}
