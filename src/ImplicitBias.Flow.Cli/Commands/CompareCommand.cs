using System.Globalization;
using ImplicitBias.Flow.Experiments.Comparison;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Running;
using ImplicitBias.Flow.Flows.Discrete;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>
/// <c>ibflow compare EXPERIMENT.json [--h 1,0.5,0.25,0.125] [--time T] [--refine N] [--out DIR] [--json]
/// [--polar exact|newton-schulz] [--Key:Sub=value …]</c>: the discrete optimizer with several time steps h against its flow
/// from the same θ_0 up to a common time T, the observed order between consecutive h, and the order fitted over the
/// asymptotic range (about 1; docs/mathematics.md §4). See <see cref="DiscretizationComparison"/>.
/// </summary>
internal sealed class CompareCommand : ICommand
{
    /// <summary>Most discrete steps (over all h) one comparison may take: a few minutes and under a GB.</summary>
    private const double MaxTotalSteps = 2e6;

    /// <summary>Memory per compared step: the row of every h at t_n plus the flow's saved values (measured order).</summary>
    private const double BytesPerStep = 400;

    /// <summary>The words --polar accepts.</summary>
    private static readonly string[] PolarNames = ["exact", "newton-schulz"];

    /// <inheritdoc />
    public string Name => "compare";

    /// <inheritdoc />
    public string Summary => "Discrete optimizer with steps h against its flow: distance, cosine, order in h.";

    /// <inheritdoc />
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (CommandLine.WantsHelp(args))
        {
            PrintHelp(output);
            return 0;
        }

        var line = new CommandLine(args, ["--out", "--h", "--time", "--polar", "--refine"], ["--json"], Name);
        string path = line.SingleExperiment("ibflow compare EXPERIMENT.json [options] (see ibflow compare --help).");
        string? outDir = ExperimentFiles.OutputFolder(line.Value("--out"));
        bool json = line.Has("--json");
        IReadOnlyList<double>? steps = line.Value("--h") is { } h ? ParseSteps(h) : null;
        double? time = null;
        if (line.Value("--time") is { } text)
        {
            time = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double t) && t > 0 && double.IsFinite(t)
                ? t
                : throw new UserError($"--time '{text}' must be a positive number (the common flow time T).");
        }

        int refine = ComparisonOptions.DefaultMaxRefinements;
        if (line.Value("--refine") is { } refineText)
        {
            refine = int.TryParse(refineText, NumberStyles.None, CultureInfo.InvariantCulture, out int r) && r <= 20
                ? r
                : throw new UserError($"--refine '{refineText}' must be a whole number from 0 to 20 (how often the finest h may be halved; 0 turns refining off).");
        }

        PolarMethod polar = line.Value("--polar") switch
        {
            null or "exact" => PolarMethod.Exact,
            "newton-schulz" => PolarMethod.NewtonSchulz,
            string p => throw new UserError($"--polar '{p}' is unknown; allowed: {string.Join(", ", PolarNames)}."),
        };
        List<string> overrides = line.Overrides;

        ExperimentSettings settings;
        try
        {
            settings = ExperimentLoader.Load(path, overrides);
        }
        catch (ExperimentException e)
        {
            throw new UserError(e.Message);
        }

        var options = new ComparisonOptions { Steps = steps ?? ComparisonOptions.DefaultSteps, Time = time, Polar = polar, MaxRefinements = refine };
        double horizon = options.ResolveTime(settings);
        if (ComparisonOptions.CheckSteps(options.Steps, horizon) is string problem)
        {
            throw new UserError($"--h {string.Join(",", options.Steps.Select(h => h.ToString("R", CultureInfo.InvariantCulture)))}: {problem}; give distinct step sizes that divide T = {horizon.ToString("R", CultureInfo.InvariantCulture)}, e.g. --h 1,0.5,0.25,0.125, or set T with --time.");
        }

        // Every discrete step of every h is kept as a row (and the flow is saved at each t_n): --h 1e-9 grew to 24 GB
        // before it was killed. Refuse a grid too large before starting, in one line.
        double totalSteps = options.Steps.Sum(h => horizon / h);
        if (totalSteps > MaxTotalSteps)
        {
            throw new UserError(string.Create(CultureInfo.InvariantCulture, $"--h {string.Join(",", options.Steps)} up to T = {horizon} needs {totalSteps:G3} discrete steps in all (about {totalSteps * BytesPerStep / 1e9:G3} GB of rows); at most {MaxTotalSteps:G3} are allowed: use larger h or a smaller --time."));
        }

        foreach (string warning in settings.Warnings)
        {
            error.WriteLine($"warning: {warning}");
        }

        ComparisonResult result;
        try
        {
            var progress = new ProgressReporter(error, $"{settings.Name} compare flow", interactive: json ? false : null);
            result = DiscretizationComparison.Run(settings, options, progress);
        }
        catch (ExperimentException e)
        {
            throw new UserError(e.Message);
        }

        string directory = outDir ?? Path.Combine("runs", $"{settings.Name}-compare");
        ComparisonOutputs.WriteAll(result, directory);
        if (json)
        {
            output.WriteLine(ComparisonOutputs.ToJson(result));
            return 0;
        }

        output.Write(ComparisonOutputs.FormatTable(result));
        output.WriteLine($"Wrote {ComparisonOutputs.CsvFile}, {ComparisonOutputs.JsonFile}, {string.Join(", ", ComparisonOutputs.PlotFiles)} and {ComparisonOutputs.IndexFile} (all figures on one page) to {directory}.");
        return 0;
    }

    /// <summary>Parses "1,0.5,0.25": positive finite numbers separated by commas.</summary>
    private static double[] ParseSteps(string text)
    {
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries);
        var steps = new double[parts.Length];
        for (int k = 0; k < parts.Length; k++)
        {
            if (!double.TryParse(parts[k], NumberStyles.Float, CultureInfo.InvariantCulture, out steps[k]) || !(steps[k] > 0) || !double.IsFinite(steps[k]))
            {
                throw new UserError($"--h '{text}' must be a comma-separated list of positive step sizes, e.g. --h 1,0.5,0.25,0.125; '{parts[k]}' is not one.");
            }
        }

        return steps;
    }

    private static void PrintHelp(TextWriter output)
    {
        output.WriteLine("Usage: ibflow compare EXPERIMENT.json [--h 1,0.5,0.25,0.125] [--time T] [--refine N] [--out DIR] [--json]");
        output.WriteLine("                      [--polar exact|newton-schulz] [--Key:Sub=value …]");
        output.WriteLine();
        output.WriteLine("Runs the experiment's first optimizer (first seed) as a flow and as the discrete optimizer with each time");
        output.WriteLine("step h (β = e^{−c h}, steps h η(t_{n−1}); docs/mathematics.md §4) from the same θ_0 up");
        output.WriteLine("to a common flow time T, and compares them at every t_n = n h. The discrete scheme is first order: once h is");
        output.WriteLine("small enough, the error at T halves with h.");
        output.WriteLine();
        output.WriteLine("It prints the observed order between each pair of consecutive h and fits the order only over the asymptotic");
        output.WriteLine($"range: the finest h whose observed orders agree within ±{DiscretizationComparison.OrderAgreement:G} over at least {DiscretizationComparison.MinimumRangeSteps} consecutive h. When they do not");
        output.WriteLine("agree, it halves the finest h and compares again (up to --refine times), and says from which h on the discrete");
        output.WriteLine("optimizer follows its flow.");
        output.WriteLine();
        output.WriteLine($"  --h LIST     time steps, each dividing T (default {string.Join(",", ComparisonOptions.DefaultSteps.Select(h => h.ToString(CultureInfo.InvariantCulture)))})");
        output.WriteLine($"  --time T     the common flow time (default: Stop:MaxTime if below {ComparisonOptions.DefaultTime:G}, else {ComparisonOptions.DefaultTime:G})");
        output.WriteLine($"  --refine N   halve the finest h at most N times to find the asymptotic range (default {ComparisonOptions.DefaultMaxRefinements}; 0: off;");
        output.WriteLine($"               an h is added only while T/h ≤ {new ComparisonOptions().MaxRefinedSteps} steps)");
        output.WriteLine("  --out DIR    output folder (default runs/<name>-compare/)");
        output.WriteLine("  --json       print {\"order\": …, \"asymptoticFrom\": …, \"verdict\": …, \"rows\": [{\"h\", \"error\", \"observedOrder\", …}], …}");
        output.WriteLine("               and nothing else on stdout");
        output.WriteLine("  --polar M    U Vᵀ of the discrete Muon/SpectralGD runs: exact (default) or newton-schulz; the other one is");
        output.WriteLine("               also run at the finest h and the Newton–Schulz vs exact differences are reported");
        output.WriteLine();
        output.WriteLine("The flow is integrated at rtol 1e-10 (DOP853 unless Solver:Method names a stepper) and saved at every t_n.");
        output.WriteLine($"Writes {ComparisonOutputs.CsvFile} (h, n, t, relative distance, cosine, log L and ℓ2 margins of both),");
        output.WriteLine($"{ComparisonOutputs.JsonFile}, the plots {string.Join(", ", ComparisonOutputs.PlotFiles)} and {ComparisonOutputs.IndexFile} (all on one page).");
    }
}
