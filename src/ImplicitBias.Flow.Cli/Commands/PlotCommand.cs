using System.Text.Json.Nodes;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Experiments.Outputs;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary><c>ibflow plot DIR… [--out DIR]</c>: redraws the plots of saved runs, overlaying several.</summary>
internal sealed class PlotCommand : ICommand
{
    public string Name => "plot";

    public string Summary => "(re)draw plots from saved run folders, overlaying several runs";

    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (CommandLine.WantsHelp(args))
        {
            output.WriteLine("Usage: ibflow plot DIR… [--out DIR]");
            output.WriteLine("  Reads every trajectory.csv under the folders (runs of one optimizer share a line: several seeds give a");
            output.WriteLine("  mean and a 95% band) and writes plots/*.html, index.html (all figures and a table of the runs) and plotly.min.js into --out (default: DIR/plots for one folder, plots/ here for several).");
            return 0;
        }

        var line = new CommandLine(args, ["--out"], [], Name);
        if (line.Positional.Count == 0)
        {
            throw new UserError("give at least one run folder: ibflow plot DIR…");
        }

        var runs = new List<PlottedRun>();
        foreach (string dir in line.Positional)
        {
            if (!Directory.Exists(dir))
            {
                throw new UserError($"'{dir}' is not a folder.");
            }

            string[] files = Directory.GetFiles(dir, "trajectory.csv", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
            if (files.Length == 0)
            {
                throw new UserError($"'{dir}' holds no trajectory.csv (write one with ibflow run).");
            }

            foreach (string file in files)
            {
                string label = Label(file);
                if (line.Positional.Count > 1)
                {
                    label = $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(dir))}: {label}";
                }

                // A file that is not a trajectory (no columns t and logLoss, or columns out of place) is named in one line.
                Trajectory trajectory;
                try
                {
                    trajectory = TrajectoryFormat.ReadCsv(file);
                }
                catch (InvalidDataException e)
                {
                    throw new UserError(e.Message);
                }

                // An empty trajectory would give empty plots and exit 0: say what is wrong instead.
                if (trajectory.Count == 0)
                {
                    throw new UserError($"'{file}' has a header but no rows: the run saved nothing to plot.");
                }

                runs.Add(new PlottedRun(label, trajectory) { Folder = Path.GetDirectoryName(file) });
            }
        }

        string outDir = ExperimentFiles.OutputFolder(line.Value("--out")) ?? (line.Positional.Count == 1 ? Path.Combine(line.Positional[0], "plots") : "plots");
        IReadOnlyList<string> written = RunPlots.Write(outDir, runs);
        output.WriteLine($"{runs.Count} run(s) → {written.Count} plot(s) in {outDir}");
        foreach (string f in written)
        {
            output.WriteLine($"  {f}");
        }

        return 0;
    }

    // The optimizer named in the run's summary.json, or the folder's name when there is none (or it is unreadable).
    private static string Label(string trajectory)
    {
        string folder = Path.GetDirectoryName(trajectory)!;
        string summary = Path.Combine(folder, "summary.json");
        try
        {
            if (File.Exists(summary) && JsonOutput.Read(summary) is JsonObject o && o["optimizer"] is JsonValue v && v.TryGetValue(out string? name))
            {
                return name;
            }
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException)
        {
            // A damaged summary.json only costs the label.
        }

        return Path.GetFileName(folder);
    }
}
