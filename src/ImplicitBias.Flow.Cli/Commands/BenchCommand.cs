using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Running;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Kernels;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>
/// <c>ibflow bench [EXPERIMENT.json] [--json]</c>: the time of one full-batch gradient of the experiment's model on
/// every backend this machine has, against the machine's own DGEMM peak measured in the same run with the
/// evaluator's kernel (<see cref="SquareGemm"/>), so a user sees what a sweep will cost before starting it.
/// </summary>
internal sealed class BenchCommand : ICommand
{
    private const int DefaultSamples = 2048;
    private const int DefaultDimension = 784;
    private const int DefaultWidth = 100;
    private const int DefaultPeakSize = 2000;
    private const int DefaultRepeats = 10;
    private const double SecondsPerBackend = 3.0;

    public string Name => "bench";

    public string Summary => "time one gradient on every backend (cpu, ilgpu-cpu, cuda) against this machine's DGEMM peak";

    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (CommandLine.WantsHelp(args))
        {
            PrintHelp(output);
            return 0;
        }

        var line = new CommandLine(args, ["--repeat", "--peak-size", "--backend"], ["--json"], Name);
        if (line.Positional.Count > 1)
        {
            throw new UserError($"expected at most one experiment file, got {line.Positional.Count}: {string.Join(" ", line.Positional)}");
        }

        int repeats = PositiveInt(line, "--repeat", DefaultRepeats);
        int peakSize = PositiveInt(line, "--peak-size", DefaultPeakSize);
        var (network, data, loss, theta, source) = Problem(line);
        IReadOnlyList<Backend> backends = Backends(line.Value("--backend"));

        // The peak: the same kernel on a square product, all cores, best of the repeats, measured before and
        // after the gradients (on a shared machine the best of both is the fairer yardstick for all rows).
        var gemm = new SquareGemm(peakSize);
        double peakSeconds = BestSeconds(gemm.Run, repeats);
        double flops = GradientFlops(network, data.Count);
        var timings = new List<(string Name, string Device, double Seconds)>();
        foreach (Backend kind in backends)
        {
            using GradientBackend backend = GradientBackends.Create(kind, NetworkSpec.From(network, loss), data.X, data.Y, () => new ModelOracle(new LossEvaluator(network, data, loss)));
            var gradient = new double[theta.Length];
            timings.Add((backend.Name, backend.DeviceName, BestSeconds(() => backend.Oracle.Evaluate(theta, gradient), repeats)));
        }

        peakSeconds = Math.Min(peakSeconds, BestSeconds(gemm.Run, repeats));
        double peak = gemm.Flops / peakSeconds / 1e9;
        var rows = new List<Row>();
        foreach (var (name, device, seconds) in timings)
        {
            double gflops = flops / seconds / 1e9;
            rows.Add(new Row(name, data.Count, network.InputDimension, network.Depth > 1 ? network.Widths[1] : 0, network.Depth, 1e3 * seconds, gflops, peak, gflops / peak, device));
        }

        if (line.Has("--json"))
        {
            output.WriteLine(JsonSerializer.Serialize(new
            {
                rows = rows.Select(r => new
                {
                    backend = r.Backend,
                    m = r.M,
                    d = r.D,
                    width = r.Width,
                    depth = r.Depth,
                    msPerGradient = r.Milliseconds,
                    gflops = r.Gflops,
                    peakGflops = r.PeakGflops,
                    fractionOfPeak = r.Fraction,
                }),
            }));
            return 0;
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ibflow bench: {source}: m = {data.Count}, d = {network.InputDimension}, widths [{string.Join(", ", network.Widths.Skip(1))}], depth {network.Depth}, {network.Activation}, {loss}; {flops / 1e9:0.000} GFLOP of products per gradient"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"DGEMM peak (n = {peakSize}, {PackedGemm.Path} kernel, {Environment.ProcessorCount} cores, best of 2 × {repeats}): {peak:0.0} GFLOP/s"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"backend",-10} {"ms/gradient",12} {"GFLOP/s",9} {"of peak",8}  device"));
        foreach (Row r in rows)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Backend,-10} {r.Milliseconds,12:0.000} {r.Gflops,9:0.0} {r.Fraction,8:P0}  {r.Device}"));
        }

        output.WriteLine("Times are the best of the repeats (the machine may be shared); GFLOP counts the matrix products only.");
        return 0;
    }

    /// <summary>Flops of the matrix products of one gradient: forward z_l, backward δ_{l−1} (l ≥ 2) and ∂W_l.</summary>
    internal static double GradientFlops(FullyConnectedNetwork network, int samples)
    {
        double total = 0;
        for (int l = 1; l <= network.Depth; l++)
        {
            double nIn = network.Widths[l - 1], nOut = l < network.Depth ? network.Widths[l] : 1;
            total += 2.0 * samples * nIn * nOut * (l >= 2 ? 3 : 2);
        }

        return total;
    }

    // Best wall time of `repeats` calls after one warm-up call; fewer repeats when a backend is slow.
    private static double BestSeconds(Action call, int repeats)
    {
        call();
        double best = double.PositiveInfinity;
        var total = Stopwatch.StartNew();
        for (int k = 0; k < repeats && (k == 0 || total.Elapsed.TotalSeconds < SecondsPerBackend); k++)
        {
            var clock = Stopwatch.StartNew();
            call();
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }

        return best;
    }

    private static (FullyConnectedNetwork Network, Dataset Data, Loss Loss, double[] Theta, string Source) Problem(CommandLine line)
    {
        if (line.Positional.Count == 0)
        {
            if (line.Overrides.Count > 0)
            {
                throw new UserError($"overrides ({string.Join(" ", line.Overrides)}) need an experiment file: ibflow bench EXPERIMENT.json --Section:Key=value");
            }

            // The paper's size (docs/mathematics.md §7): 2048 samples of dimension 784, width 100, two layers, squared ReLU.
            Dataset synthetic = SyntheticData.Gaussian(DefaultSamples, DefaultDimension, 1);
            var paper = new FullyConnectedNetwork(DefaultDimension, [DefaultWidth], Activation.SquaredRelu);
            return (paper, synthetic, Loss.Exponential, Initialization.KaimingNormal(paper.Layout, 1, 1.0), "paper size (synthetic Gaussian data)");
        }

        string path = line.Positional[0];
        try
        {
            ExperimentSettings settings = ExperimentLoader.Load(path, line.Overrides);
            Dataset data = ExperimentBuilder.Data(settings);
            FullyConnectedNetwork network = ExperimentBuilder.Network(settings.Model, data.Dimension);
            double[] theta = ExperimentBuilder.InitialTheta(settings, network, settings.Seeds[0]);
            return (network, data, ExperimentBuilder.Loss(settings), theta, path);
        }
        catch (ExperimentException e)
        {
            throw new UserError(e.Message);
        }
    }

    private static List<Backend> Backends(string? requested)
    {
        if (requested is not null)
        {
            var chosen = new List<Backend>();
            foreach (string name in requested.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                Backend kind;
                try
                {
                    kind = GradientBackends.Parse(name);
                }
                catch (ArgumentException)
                {
                    throw new UserError($"--backend '{name}' is unknown; allowed: cpu, ilgpu-cpu, cuda (comma-separated).");
                }

                if (kind == Backend.Auto)
                {
                    throw new UserError("--backend takes cpu, ilgpu-cpu or cuda (comma-separated), not auto.");
                }

                if (kind == Backend.Cuda && !GradientBackends.IsCudaAvailable())
                {
                    throw new UserError("--backend cuda: no CUDA device here (ILGPU finds none).");
                }

                chosen.Add(kind);
            }

            return chosen;
        }

        var all = new List<Backend> { Backend.Cpu, Backend.IlgpuCpu };
        if (GradientBackends.IsCudaAvailable())
        {
            all.Add(Backend.Cuda);
        }

        return all;
    }

    private static int PositiveInt(CommandLine line, string option, int fallback)
    {
        string? text = line.Value(option);
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) || value < 1)
        {
            throw new UserError($"{option} '{text}' must be a positive integer.");
        }

        return value;
    }

    private static void PrintHelp(TextWriter output)
    {
        output.WriteLine("Usage: ibflow bench [EXPERIMENT.json] [--json] [--repeat N] [--peak-size N] [--backend LIST] [--Section:Key=value …]");
        output.WriteLine("  Times one full-batch gradient (log L and ∇L/L) of the experiment's model and data, at θ(0) of its first");
        output.WriteLine("  seed, on every backend here: cpu, ilgpu-cpu, and cuda when a CUDA device is present. Without a file: the");
        output.WriteLine($"  paper's size, m = {DefaultSamples}, d = {DefaultDimension}, width {DefaultWidth}, depth 2, squared ReLU, exponential loss (Gaussian data).");
        output.WriteLine("  Reports ms per gradient, GFLOP/s of its matrix products, and the fraction of this machine's DGEMM peak,");
        output.WriteLine($"  measured with the same kernel on a square product of size --peak-size (default {DefaultPeakSize}), before and after.");
        output.WriteLine($"  --repeat N       best of N timed calls after one warm-up (default {DefaultRepeats}; fewer past {SecondsPerBackend:0} s per backend)");
        output.WriteLine("  --backend LIST   only these backends, e.g. cpu or cpu,cuda");
        output.WriteLine("  --json           {\"rows\":[{\"backend\",\"m\",\"d\",\"width\",\"depth\",\"msPerGradient\",\"gflops\",\"peakGflops\",\"fractionOfPeak\"}]}");
    }

    private sealed record Row(string Backend, int M, int D, int Width, int Depth, double Milliseconds, double Gflops, double PeakGflops, double Fraction, string Device);
}
