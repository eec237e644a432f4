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
    private const int MinWarmupCalls = 10;
    private const double MinWarmupSeconds = 0.3;
    private const double MaxWarmupSeconds = 2.0;
    private const int WarmupWindow = 5;

    public string Name => "bench";

    public string Summary => "time one gradient on every backend (cpu, ilgpu-cpu, cuda) against this machine's DGEMM peak";

    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (CommandLine.WantsHelp(args))
        {
            PrintHelp(output);
            return 0;
        }

        var line = new CommandLine(args, ["--repeat", "--peak-size", "--backend", "--width", "--depth", "--samples", "--dimension", "--precision"], ["--json"], Name);
        if (line.Positional.Count > 1)
        {
            throw new UserError($"expected at most one experiment file, got {line.Positional.Count}: {string.Join(" ", line.Positional)}");
        }

        int repeats = PositiveInt(line, "--repeat", DefaultRepeats);
        int peakSize = PositiveInt(line, "--peak-size", DefaultPeakSize);
        List<Problem> problems = Problems(line);
        IReadOnlyList<Backend> backends = Backends(line.Value("--backend"));
        IReadOnlyList<Precision> precisions = Precisions(line.Value("--precision"));
        // The peak: the same kernel on a square product, all cores, best of the repeats, measured before and
        // after the gradients (on a shared machine the best of both is the fairer yardstick for all rows).
        var gemm = new SquareGemm(peakSize);
        double peakSeconds = BestSeconds(gemm.Run, repeats);
        var timings = new List<(Problem Problem, string Name, Precision Precision, string Device, double Seconds)>();
        foreach (Problem problem in problems)
        {
            var (network, data, loss, theta, _) = problem;
            foreach (Backend kind in backends)
            {
                foreach (Precision precision in precisions)
                {
                    // float32 on the cpu backend: the products with the data (LossEvaluator.Float32, fused pass or
                    // two-pass tiles); on a device backend the whole evaluation in float32.
                    using GradientBackend backend = GradientBackends.Create(kind, NetworkSpec.From(network, loss), data.X, data.Y, () => new ModelOracle(new LossEvaluator(network, data, loss) { Float32 = precision == Precision.Float32 }), precision);
                    var gradient = new double[theta.Length];
                    timings.Add((problem, backend.Name, precision, backend.DeviceName, BestSeconds(() => backend.Oracle.Evaluate(theta, gradient), repeats)));
                }
            }
        }

        peakSeconds = Math.Min(peakSeconds, BestSeconds(gemm.Run, repeats));
        double peak = gemm.Flops / peakSeconds / 1e9;
        var rows = new List<Row>();
        foreach (var (problem, name, precision, device, seconds) in timings)
        {
            FullyConnectedNetwork network = problem.Network;
            double gflops = GradientFlops(network, problem.Data.Count) / seconds / 1e9;
            rows.Add(new Row(problem, name, PrecisionName(precision), problem.Data.Count, network.InputDimension, network.Depth > 1 ? network.Widths[1] : 0, network.Depth, 1e3 * seconds, gflops, peak, gflops / peak, device));
        }

        if (line.Has("--json"))
        {
            output.WriteLine(JsonSerializer.Serialize(new
            {
                rows = rows.Select(r => new
                {
                    backend = r.Backend,
                    precision = r.Precision,
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

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"DGEMM peak (n = {peakSize}, {PackedGemm.Path} kernel, {Environment.ProcessorCount} cores, best of 2 × {repeats}): {peak:0.0} GFLOP/s"));
        foreach (Problem problem in problems)
        {
            var (network, data, loss, _, source) = problem;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ibflow bench: {source}: m = {data.Count}, d = {network.InputDimension}, widths [{string.Join(", ", network.Widths.Skip(1))}], depth {network.Depth}, {network.Activation}, {loss}; {GradientFlops(network, data.Count) / 1e9:0.000} GFLOP of products per gradient"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"backend",-10} {"precision",9} {"ms/gradient",12} {"GFLOP/s",9} {"of peak",8}  device"));
            foreach (Row r in rows.Where(r => ReferenceEquals(r.Problem, problem)))
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Backend,-10} {r.Precision,9} {r.Milliseconds,12:0.000} {r.Gflops,9:0.0} {r.Fraction,8:P0}  {r.Device}"));
            }
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

    // Best wall time of `repeats` calls after the warm-up; fewer repeats when a backend is slow.
    private static double BestSeconds(Action call, int repeats)
    {
        WarmUp(call);
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

    // Calls until the time per call is stable: at least MinWarmupCalls calls and MinWarmupSeconds, and then until a
    // window of calls is no faster (by 3 %) than the one before, at most MaxWarmupSeconds (a slow backend stops after
    // its first window). One call was not enough: tiered compilation promotes methods after ~30 calls and a 100 ms
    // quiet period, so a short --repeat window otherwise timed tier-0 code.
    private static void WarmUp(Action call)
    {
        var clock = Stopwatch.StartNew();
        int calls = 0;
        double previous = double.PositiveInfinity;
        while (true)
        {
            double best = double.PositiveInfinity;
            for (int k = 0; k < WarmupWindow && (k == 0 || clock.Elapsed.TotalSeconds < MaxWarmupSeconds); k++)
            {
                long start = Stopwatch.GetTimestamp();
                call();
                best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
                calls++;
            }

            double elapsed = clock.Elapsed.TotalSeconds;
            bool stable = calls >= MinWarmupCalls && elapsed >= MinWarmupSeconds && best >= 0.97 * previous;
            if (stable || elapsed >= MaxWarmupSeconds)
            {
                return;
            }

            previous = best;
        }
    }

    private static List<Problem> Problems(CommandLine line)
    {
        string[] shapeOptions = ["--width", "--depth", "--samples", "--dimension"];
        if (line.Positional.Count == 0)
        {
            if (line.Overrides.Count > 0)
            {
                throw new UserError($"overrides ({string.Join(" ", line.Overrides)}) need an experiment file: ibflow bench EXPERIMENT.json --Section:Key=value");
            }

            // The paper's size (docs/mathematics.md §7): 2048 samples of dimension 784, width 100, two layers, squared
            // ReLU; --width/--depth take lists (one row per combination), e.g. the widths the flows use.
            int samples = PositiveInt(line, "--samples", DefaultSamples);
            int dimension = PositiveInt(line, "--dimension", DefaultDimension);
            List<int> widths = PositiveInts(line, "--width", DefaultWidth);
            List<int> depths = PositiveInts(line, "--depth", 2);
            Dataset synthetic = SyntheticData.Gaussian(samples, dimension, 1);
            bool paperSize = samples == DefaultSamples && dimension == DefaultDimension;
            var problems = new List<Problem>();
            foreach (int depth in depths)
            {
                foreach (int width in widths)
                {
                    var network = new FullyConnectedNetwork(dimension, [.. Enumerable.Repeat(width, depth - 1)], Activation.SquaredRelu);
                    problems.Add(new Problem(network, synthetic, Loss.Exponential, Initialization.KaimingNormal(network.Layout, 1, 1.0), paperSize ? "paper size (synthetic Gaussian data)" : "synthetic Gaussian data"));
                }
            }

            return problems;
        }

        if (shapeOptions.FirstOrDefault(line.Has) is { } option)
        {
            throw new UserError($"{option} sets the built-in problem's size; with an experiment file use its keys, e.g. --Model:Width=20 --Model:Depth=3 --Data:Samples=2048");
        }

        string path = line.Positional[0];
        try
        {
            ExperimentSettings settings = ExperimentLoader.Load(path, line.Overrides);
            Dataset data = ExperimentBuilder.Data(settings);
            FullyConnectedNetwork network = ExperimentBuilder.Network(settings.Model, data.Dimension);
            double[] theta = ExperimentBuilder.InitialTheta(settings, network, settings.Seeds[0]);
            return [new Problem(network, data, ExperimentBuilder.Loss(settings), theta, path)];
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

    private static List<Precision> Precisions(string? requested)
    {
        var chosen = new List<Precision>();
        foreach (string name in (requested ?? "float64").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            chosen.Add(name switch
            {
                "float64" => Precision.Float64,
                "float32" => Precision.Float32,
                _ => throw new UserError($"--precision '{name}' is unknown; allowed: float64, float32 (comma-separated)."),
            });
        }

        return chosen.Count > 0 ? chosen : throw new UserError("--precision needs float64, float32 or both (comma-separated).");
    }

    private static string PrecisionName(Precision precision) => precision == Precision.Float32 ? "float32" : "float64";

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

    // A comma-separated list of positive integers (one value without a comma).
    private static List<int> PositiveInts(CommandLine line, string option, int fallback)
    {
        string? text = line.Value(option);
        if (text is null)
        {
            return [fallback];
        }

        var values = new List<int>();
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(item, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) || value < 1 || (option == "--depth" && value > 8))
            {
                throw new UserError($"{option} '{text}' must be {(option == "--depth" ? "depths from 1 to 8" : "positive integers")}, comma-separated.");
            }

            values.Add(value);
        }

        return values;
    }

    private static void PrintHelp(TextWriter output)
    {
        output.WriteLine("Usage: ibflow bench [EXPERIMENT.json] [--json] [--repeat N] [--peak-size N] [--backend LIST] [--width LIST] [--depth LIST] [--samples N] [--dimension N] [--precision LIST] [--Section:Key=value …]");
        output.WriteLine("  Times one full-batch gradient (log L and ∇L/L) of the experiment's model and data, at θ(0) of its first");
        output.WriteLine("  seed, on every backend here: cpu, ilgpu-cpu, and cuda when a CUDA device is present. Without a file: the");
        output.WriteLine($"  paper's size, m = {DefaultSamples}, d = {DefaultDimension}, width {DefaultWidth}, depth 2, squared ReLU, exponential loss (Gaussian data).");
        output.WriteLine("  Reports ms per gradient, GFLOP/s of its matrix products, and the fraction of this machine's DGEMM peak,");
        output.WriteLine($"  measured with the same kernel on a square product of size --peak-size (default {DefaultPeakSize}), before and after.");
        output.WriteLine($"  --repeat N       best of N timed calls (default {DefaultRepeats}; fewer past {SecondsPerBackend:0} s per backend), after a warm-up of at");
        output.WriteLine($"                   least {MinWarmupCalls} calls and {MinWarmupSeconds:0.0} s until the time per call is stable (at most {MaxWarmupSeconds:0} s)");
        output.WriteLine("  --backend LIST   only these backends, e.g. cpu or cpu,cuda");
        output.WriteLine("  --width LIST     without a file: hidden widths, one problem each, e.g. 10,20,100 (default 100)");
        output.WriteLine("  --depth LIST     without a file: depths, e.g. 2,3 (default 2); --samples N, --dimension N: the data's size");
        output.WriteLine("  --precision LIST float64 (default), float32 or both, one row each; float32 on cpu: the two products with the");
        output.WriteLine("                   data (X·W_1ᵀ, δ_1ᵀX) in float32, the rest float64; on ilgpu-cpu/cuda: the whole evaluation");
        output.WriteLine("  --json           {\"rows\":[{\"backend\",\"precision\",\"m\",\"d\",\"width\",\"depth\",\"msPerGradient\",\"gflops\",\"peakGflops\",\"fractionOfPeak\"}]}");
    }

    private sealed record Problem(FullyConnectedNetwork Network, Dataset Data, Loss Loss, double[] Theta, string Source);

    private sealed record Row(Problem Problem, string Backend, string Precision, int M, int D, int Width, int Depth, double Milliseconds, double Gflops, double PeakGflops, double Fraction, string Device);
}
