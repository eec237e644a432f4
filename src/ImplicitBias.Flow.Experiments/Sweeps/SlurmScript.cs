using System.Globalization;
using System.Text;

namespace ImplicitBias.Flow.Experiments.Sweeps;

/// <summary>Resources asked of Slurm for each array task (one run).</summary>
/// <param name="Time">Wall-clock limit, Slurm's syntax (e.g. 04:00:00).</param>
/// <param name="CpusPerTask">Cores per run.</param>
/// <param name="Memory">Memory per run, Slurm's syntax (e.g. 4G).</param>
/// <param name="Partition">Partition, or null for the cluster's default.</param>
/// <param name="Command">How a node starts the tool (default <c>ibflow</c> on the PATH).</param>
public sealed record SlurmResources(string Time = "04:00:00", int CpusPerTask = 2, string Memory = "4G", string? Partition = null, string Command = "ibflow");

/// <summary>
/// Writes a Slurm job array for a sweep: array index i runs the run folder on line i + 1 of tasks.txt with
/// <c>ibflow run --resume FOLDER</c>, which starts the run from the config.json the sweep wrote there, or, when
/// Slurm requeues a preempted task, continues it from its checkpoint. The outputs are those of a local sweep.
/// </summary>
public static class SlurmScript
{
    /// <summary>The script's file name in the sweep folder.</summary>
    public const string FileName = "sweep.slurm";

    /// <summary>Writes the script for <paramref name="count"/> runs into <paramref name="sweepDirectory"/>; returns its path.</summary>
    public static string Write(string sweepDirectory, string name, int count, SlurmResources resources)
    {
        ArgumentNullException.ThrowIfNull(sweepDirectory);
        ArgumentNullException.ThrowIfNull(resources);
        string root = Path.GetFullPath(sweepDirectory);
        var s = new StringBuilder();
        s.AppendLine("#!/bin/bash");
        s.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --job-name=ibflow-{name}");
        s.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --array=0-{count - 1}");
        s.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --time={resources.Time}");
        s.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --cpus-per-task={resources.CpusPerTask}");
        s.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --mem={resources.Memory}");
        if (resources.Partition is { } partition)
        {
            s.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --partition={partition}");
        }

        s.AppendLine(CultureInfo.InvariantCulture, $"#SBATCH --output={root}/slurm-%A_%a.out");
        s.AppendLine("#SBATCH --requeue");
        s.AppendLine("# One task = one run: line SLURM_ARRAY_TASK_ID + 1 of tasks.txt names its folder (see sweep.json).");
        s.AppendLine("# --resume starts the run from its config.json, or continues it from its checkpoint after a requeue.");
        s.AppendLine("set -euo pipefail");
        s.AppendLine(CultureInfo.InvariantCulture, $"SWEEP={Quote(root)}");
        s.AppendLine(CultureInfo.InvariantCulture, $"FOLDER=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \"$SWEEP/{SweepRunner.TasksFile}\")");
        s.AppendLine(CultureInfo.InvariantCulture, $"exec {resources.Command} run --resume \"$SWEEP/$FOLDER\"");
        string path = Path.Combine(root, FileName);
        File.WriteAllText(path, s.ToString().Replace("\r\n", "\n", StringComparison.Ordinal));
        return path;
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
