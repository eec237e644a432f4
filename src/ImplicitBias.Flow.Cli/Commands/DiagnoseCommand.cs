using System.Globalization;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Diagnostics;
using ImplicitBias.Flow.Experiments.Running;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>
/// <c>ibflow diagnose EXPERIMENT.json [--at t1,t2,…] [--count K] [--krylov M] [--json] [--Key:Sub=value …]</c>: what
/// limits the flow's step at chosen times: the Jacobian's leading eigenvalues (h|λ| against the accepted step h, the
/// block and neurons of each eigenvector) and the preconditioned sharpness against the discrete optimizer's threshold.
/// <c>ibflow diagnose --from RUN</c> does the same at a run's checkpoint (and later times from there). See <see cref="FlowDiagnosis"/>.
/// </summary>
internal sealed class DiagnoseCommand : ICommand
{
    /// <summary>The default diagnosis times.</summary>
    private static readonly double[] DefaultTimes = [10, 100, 1000];

    /// <inheritdoc />
    public string Name => "diagnose";

    /// <inheritdoc />
    public string Summary => "What limits the flow's step: Jacobian eigenvalues (h|λ|) and preconditioned sharpness at chosen times.";

    /// <inheritdoc />
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (CommandLine.WantsHelp(args))
        {
            PrintHelp(output);
            return 0;
        }

        var line = new CommandLine(args, ["--at", "--count", "--krylov", "--from"], ["--json"], Name);
        bool json = line.Has("--json");
        int count = PositiveInt(line, "--count", 6, 100);
        int krylov = PositiveInt(line, "--krylov", 30, 500);
        DiagnosisResult result;
        double[] times;
        if (line.Value("--from") is { } runDirectory)
        {
            if (line.Positional.Count > 0 || line.Overrides.Count > 0)
            {
                throw new UserError("--from RUN takes no experiment file or overrides: the run is diagnosed with the settings in its config.json");
            }

            times = line.Value("--at") is { } later ? ParseTimes(later) : [];
            try
            {
                var progress = new ProgressReporter(error, $"{runDirectory} diagnose", interactive: json ? false : null);
                result = FlowDiagnosis.RunFrom(runDirectory, new DiagnosisOptions { Times = times, Count = count, KrylovDimension = Math.Max(krylov, count) }, progress);
            }
            catch (ExperimentException e)
            {
                throw new UserError(e.Message);
            }

            // The checkpoint's own point comes first; it is not one of the requested times unless --at names it.
            times = times.Where(t => t > result.Points[0].Time).Prepend(result.Points[0].Time).ToArray();
        }
        else
        {
            string path = line.SingleExperiment("ibflow diagnose EXPERIMENT.json [options] or ibflow diagnose --from RUN [options] (see ibflow diagnose --help).");
            times = line.Value("--at") is { } at ? ParseTimes(at) : DefaultTimes;
            ExperimentSettings settings;
            try
            {
                settings = ExperimentLoader.Load(path, line.Overrides);
            }
            catch (ExperimentException e)
            {
                throw new UserError(e.Message);
            }

            if (line.Value("--at") is null)
            {
                times = times.Where(t => t <= settings.Stop.MaxTime).DefaultIfEmpty(settings.Stop.MaxTime).ToArray();
            }
            else if (times.Max() > settings.Stop.MaxTime)
            {
                throw new UserError($"--at {line.Value("--at")}: {times.Max().ToString("G6", CultureInfo.InvariantCulture)} is past Stop:MaxTime = {settings.Stop.MaxTime.ToString("G6", CultureInfo.InvariantCulture)} of {path}; give earlier times or raise it (--Stop:MaxTime=…).");
            }

            foreach (string warning in settings.Warnings)
            {
                error.WriteLine($"warning: {warning}");
            }

            try
            {
                var progress = new ProgressReporter(error, $"{settings.Name} diagnose", interactive: json ? false : null);
                result = FlowDiagnosis.Run(settings, new DiagnosisOptions { Times = times, Count = count, KrylovDimension = Math.Max(krylov, count) }, progress);
            }
            catch (ExperimentException e)
            {
                throw new UserError(e.Message);
            }
        }

        if (result.Points.Count < times.Length)
        {
            error.WriteLine($"warning: the solve ended at t = {result.FinalTime.ToString("G6", CultureInfo.InvariantCulture)} ({result.Status}) before {times.Length - result.Points.Count} of the requested times; they are left out.");
        }

        output.Write(json ? DiagnosisOutputs.ToJson(result) + Environment.NewLine : DiagnosisOutputs.FormatTable(result));
        return 0;
    }

    private static int PositiveInt(CommandLine line, string option, int fallback, int max)
    {
        if (line.Value(option) is not { } text)
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int k) && k >= 1 && k <= max
            ? k
            : throw new UserError($"{option} '{text}' must be a whole number from 1 to {max}.");
    }

    private static double[] ParseTimes(string text)
    {
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries);
        var times = new double[parts.Length];
        for (int k = 0; k < parts.Length; k++)
        {
            if (!double.TryParse(parts[k], NumberStyles.Float, CultureInfo.InvariantCulture, out times[k]) || !(times[k] > 0) || !double.IsFinite(times[k]))
            {
                throw new UserError($"--at '{text}' must be a comma-separated list of positive flow times, e.g. --at 100,1000,10000; '{parts[k]}' is not one.");
            }
        }

        return times;
    }

    private static void PrintHelp(TextWriter output)
    {
        output.WriteLine("Usage: ibflow diagnose EXPERIMENT.json [--at t1,t2,…] [--count K] [--krylov M] [--json] [--Key:Sub=value …]");
        output.WriteLine("       ibflow diagnose --from RUN [--at t1,t2,…] [--count K] [--krylov M] [--json]");
        output.WriteLine();
        output.WriteLine("Solves the experiment's first optimizer (first seed) as a flow with Solver:Method and its tolerances up to");
        output.WriteLine("each time and measures there what limits the step size:");
        output.WriteLine("  - the K eigenvalues of largest |λ| of the Jacobian ∂f/∂y (Arnoldi, M steps, on central differences of the");
        output.WriteLine("    vector field in per-coordinate scaled variables), h|λ| against the accepted step h, the blocks (theta, m:…,");
        output.WriteLine("    v:…) that hold each eigenvector and its largest coordinates (W1[neuron,input], u[neuron]); and the largest");
        output.WriteLine("    eigenvalue without the decay −c y, the part an exponential stepper (etdrk4, etd2) treats explicitly;");
        output.WriteLine("  - the preconditioned sharpness λmax(P⁻¹∇²L) (Lanczos on Hessian–vector products; Adam P = diag √v̂, NGD");
        output.WriteLine("    P = ‖∇L‖, GD P = I) against the discrete optimizer's threshold (Adam: (2 + 2β1)/((1 − β1) η)).");
        output.WriteLine();
        output.WriteLine($"  --at LIST    flow times (default {string.Join(",", DefaultTimes.Select(t => t.ToString(CultureInfo.InvariantCulture)))}, those up to Stop:MaxTime)");
        output.WriteLine("  --from RUN   diagnose a run folder of ibflow run at its checkpoint (a run stopped with Ctrl+C or killed keeps");
        output.WriteLine("               one), with the settings of its config.json, instead of solving the experiment again from t = 0;");
        output.WriteLine("               --at then names later times, reached by continuing the solve from the checkpoint (the folder is");
        output.WriteLine("               only read)");
        output.WriteLine("  --count K    eigenvalues per time (default 6)");
        output.WriteLine("  --krylov M   Arnoldi steps, 2 gradient evaluations each (default 30); compare residuals with |λ| to judge convergence");
        output.WriteLine("  --json       print {\"points\": [{\"t\", \"stepSize\", \"modes\": [{\"re\", \"im\", \"hMagnitude\", \"block\", …}], \"sharpness\"}], …}");
        output.WriteLine();
        output.WriteLine("A step held by stability shows h|λ| of order one to a few (the stepper's stability boundary along arg λ),");
        output.WriteLine("with many rejected steps; a step held by accuracy shows h|λ| well below that. An h|λ| marked * (above 1000");
        output.WriteLine("at an accepted step, and no decay −c) cannot be an eigenvalue of the flow along its solution: an artefact of");
        output.WriteLine("the differences (\"credible\": false in --json).");
    }
}
