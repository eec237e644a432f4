using System.Globalization;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Sweeps;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>
/// <c>ibflow sweep SWEEP.json [--out DIR] [--jobs N] [--slurm …] [--Key:Sub=value …]</c>: every grid point × optimizer
/// × seed of a sweep file, one run folder each (as <c>ibflow run</c> writes it), resumable; or a Slurm job array.
/// </summary>
internal sealed class SweepCommand : ICommand
{
    /// <inheritdoc />
    public string Name => "sweep";

    /// <inheritdoc />
    public string Summary => "run a grid of experiments (axes × optimizers × seeds), resumable, locally or as a Slurm job array";

    /// <inheritdoc />
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (CommandLine.WantsHelp(args))
        {
            output.WriteLine("Usage: ibflow sweep SWEEP.json [--out DIR] [--jobs N] [--Section:Key=value …]");
            output.WriteLine("       ibflow sweep SWEEP.json --slurm [--out DIR] [--time 04:00:00] [--cpus-per-task 2] [--mem 4G] [--partition P] [--ibflow CMD]");
            output.WriteLine("       ibflow sweep --collect DIR [--out FILE.html]   (gathers a finished sweep: the same as ibflow report DIR)");
            output.WriteLine("  A sweep file is an experiment file with a Sweep section of lists, e.g.");
            output.WriteLine("    \"Sweep\": { \"Model:Activation\": [\"relu-q\", \"relu\"], \"Model:Width\": [10, 20], \"Solver:Method\": [\"auto\", \"discrete\"] }");
            output.WriteLine("  and the experiment's Optimizers and Seeds lists; an optimizer may give \"Eta0ByActivation\": { \"relu\": 0.1, \"relu-q\": 0.05 }.");
            output.WriteLine("  One run folder per axis point × optimizer × seed, named by its coordinates (act=relu/width=10/method=discrete/adam/seed1),");
            output.WriteLine("  each as `ibflow run` writes it (its config.json reruns it alone); sweep.json and tasks.txt index them.");
            output.WriteLine("  --out DIR   output folder (default runs/<Name>); the same command again skips finished runs and resumes the others");
            output.WriteLine($"  --jobs N    runs at a time (default {SweepRunner.DefaultJobs}: one per core on this machine)");
            output.WriteLine("  --slurm     write DIR/sweep.slurm (a job array, one task = `ibflow run --resume` of one run folder) instead of running;");
            output.WriteLine("              submit it with `sbatch DIR/sweep.slurm`, then `ibflow report DIR`");
            output.WriteLine("  Ctrl-C or SIGTERM stops cleanly: running runs write their checkpoint, rerunning the command continues them.");
            return 0;
        }

        var line = new CommandLine(args, ["--out", "--jobs", "--time", "--cpus-per-task", "--mem", "--partition", "--ibflow", "--collect"], ["--slurm"], Name);
        if (line.Value("--collect") is { } collect)
        {
            // The collect step of a cluster sweep: the outputs are those of a local sweep, so it is the report.
            return new ReportCommand().Run(line.Value("--out") is { } html ? [collect, "--out", html] : [collect], output, error);
        }

        string path = line.SingleExperiment("ibflow sweep SWEEP.json [options] (see ibflow sweep --help).");
        SweepPlan plan;
        try
        {
            plan = SweepPlan.Load(path, line.Overrides);
        }
        catch (ExperimentException e)
        {
            throw new UserError(e.Message);
        }

        string outDir = ExperimentFiles.OutputFolder(line.Value("--out")) ?? Path.Combine("runs", plan.Name);
        if (line.Has("--slurm"))
        {
            var resources = new SlurmResources(
                line.Value("--time") ?? "04:00:00",
                line.Value("--cpus-per-task") is { } c ? PositiveInt(c, "--cpus-per-task") : 2,
                line.Value("--mem") ?? "4G",
                line.Value("--partition"),
                line.Value("--ibflow") ?? "ibflow");
            try
            {
                new SweepRunner(plan, outDir, output).Prepare();
            }
            catch (ExperimentException e)
            {
                throw new UserError(e.Message);
            }

            string script = SlurmScript.Write(outDir, plan.Name, plan.Points.Count, resources);
            output.WriteLine($"{plan.Points.Count} runs prepared in {outDir} (index: {Path.Combine(outDir, SweepRunner.IndexFile)}, {Path.Combine(outDir, SweepRunner.TasksFile)}).");
            output.WriteLine($"Submit: sbatch {script}   then: ibflow report {outDir}");
            return 0;
        }

        foreach (string option in new[] { "--time", "--cpus-per-task", "--mem", "--partition", "--ibflow" })
        {
            if (line.Has(option))
            {
                throw new UserError($"{option} is a Slurm resource; it needs --slurm.");
            }
        }

        int jobs = line.Value("--jobs") is { } j ? PositiveInt(j, "--jobs") : SweepRunner.DefaultJobs;
        using var stop = new StopSignals();
        try
        {
            bool interactive = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
            IReadOnlyList<SweepRunResult> results = new SweepRunner(plan, outDir, output) { Jobs = jobs, Interactive = interactive }.Run(stop.Token);
            int failed = results.Count(r => r.Status == "failed" || r.Message == "already failed");
            int interrupted = plan.Points.Count - results.Count + results.Count(r => r.Status == "interrupted");
            output.WriteLine($"{results.Count(r => r.Status is not "failed" and not "interrupted" && r.Message != "already failed")} finished, {failed} failed, {interrupted} not finished. Outputs in {outDir}");
            output.WriteLine(interrupted > 0 ? $"Continue with the same command; then: ibflow report {outDir}" : $"Report: ibflow report {outDir}");
            return failed > 0 ? 1 : interrupted > 0 ? 130 : 0;
        }
        catch (ExperimentException e)
        {
            throw new UserError(e.Message);
        }
    }

    private static int PositiveInt(string text, string option) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1 && n <= 4096
            ? n
            : throw new UserError($"{option} '{text}' must be a whole number from 1 to 4096.");
}
