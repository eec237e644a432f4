using System.Globalization;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Running;
using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary><c>ibflow run [EXPERIMENT.json] [--out DIR] [--Section:Key=value …]</c>.</summary>
internal sealed class RunCommand : ICommand
{
    public string Name => "run";

    public string Summary => "integrate the flow(s) of an experiment (default experiments/quickstart.json) and write outputs and plots";

    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (CommandLine.WantsHelp(args))
        {
            output.WriteLine("Usage: ibflow run [EXPERIMENT.json] [--out DIR] [--Section:Key=value …]");
            output.WriteLine("       ibflow run --resume DIR");
            output.WriteLine("  Integrates every optimizer × seed of the experiment and writes, per run: config.json, trajectory.csv,");
            output.WriteLine("  summary.json, theta_initial.npy, theta_final.npy, theta_t<time>.npy, plots/*.html.");
            output.WriteLine("  --out DIR   output folder (default runs/<Name>, or runs/<Name>-2, … if that one holds files)");
            output.WriteLine("  --resume DIR  continue the unfinished runs in DIR (a run folder or an experiment's folder) from their");
            output.WriteLine("                checkpoints, bit for bit; finished runs are kept");
            output.WriteLine("  Overrides use the configuration syntax, e.g. --Optimizer:Eta0=0.1, --Loss=logistic, --Seeds=1,2; see experiments/README.md.");
            output.WriteLine("  Ctrl-C or SIGTERM stops cleanly: outputs and the checkpoint are written, the status is \"interrupted\".");
            output.WriteLine();
            output.WriteLine("Optimizers (Optimizer:Name; default η0 for squared ReLU):");
            foreach (OptimizerDefinition d in OptimizerRegistry.All)
            {
                string aliases = d.Aliases.Count > 0 ? $" (also {string.Join(", ", d.Aliases)})" : string.Empty;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {d.Name,-12} η0 {d.DefaultEta0,-6:G3} {d.Summary}{aliases}"));
            }

            return 0;
        }

        var line = new CommandLine(args, ["--out", "--resume"], [], Name);
        if (line.Value("--resume") is { } resumeDir)
        {
            if (line.Positional.Count > 0 || line.Overrides.Count > 0 || line.Value("--out") is not null)
            {
                throw new UserError("--resume DIR takes no experiment file, --out or overrides: a run continues with the settings in its config.json");
            }

            return Execute(cancellation => ExperimentRunner.Resume(resumeDir, output, ReferenceEquals(output, Console.Out) ? null : false, cancellation: cancellation), resumeDir, multiSeed: true, output);
        }

        if (line.Positional.Count > 1)
        {
            throw new UserError($"expected one experiment file, got {line.Positional.Count}: {string.Join(" ", line.Positional)}");
        }

        ExperimentSettings settings;
        string shown;
        try
        {
            (settings, shown) = ExperimentFiles.Load(line.Positional, line.Overrides);
        }
        catch (ExperimentException e)
        {
            throw new UserError(e.Message);
        }

        string outDir = ExperimentFiles.OutputFolder(line.Value("--out")) ?? ExperimentFiles.FreshRunDirectory(settings.Name);
        output.WriteLine($"ibflow run {shown} → {outDir} ({settings.Optimizers.Count} optimizer(s) × {settings.Seeds.Count} seed(s))");

        return Execute(cancellation => new ExperimentRunner(settings, outDir, output, interactive: ReferenceEquals(output, Console.Out) ? null : false).Run(cancellation), outDir, settings.Seeds.Count > 1, output);
    }

    private static int Execute(Func<CancellationToken, IReadOnlyList<RunOutcome>> run, string outDir, bool multiSeed, TextWriter output)
    {
        using var stop = new StopSignals();
        try
        {
            IReadOnlyList<RunOutcome> outcomes = run(stop.Token);
            output.WriteLine();
            output.WriteLine($"{"run",-28} {"status",-15} {"t",12} {"log L",12} {"wall s",8}");
            foreach (RunOutcome o in outcomes)
            {
                output.WriteLine($"{o.Label + (multiSeed ? $" seed {o.Seed}" : string.Empty),-28} {o.Status,-15} {o.FinalTime,12:G5} {o.FinalLogLoss,12:F3} {o.WallSeconds,8:F1}");
            }

            output.WriteLine($"Outputs in {outDir}");
            return outcomes.Any(o => o.Status == "failed") ? 1 : outcomes.Any(o => o.Status == "interrupted") ? 130 : 0;
        }
        catch (ExperimentException e)
        {
            throw new UserError(e.Message);
        }
    }
}
