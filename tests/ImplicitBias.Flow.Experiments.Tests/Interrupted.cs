using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Running;

namespace ImplicitBias.Flow.Experiments.Tests;

/// <summary>Runs that stop at a checkpoint, as Ctrl+C leaves them.</summary>
internal static class Interrupted
{
    /// <summary>Runs the experiment into <paramref name="dir"/> and interrupts it when its <paramref name="checkpoints"/>-th checkpoint is written.</summary>
    public static IReadOnlyList<RunOutcome> AtCheckpoint(ExperimentSettings s, string dir, int checkpoints)
    {
        using var cancel = new CancellationTokenSource();
        int written = 0;
        var runner = new ExperimentRunner(s, dir, TextWriter.Null, interactive: false)
        {
            CheckpointWritten = _ =>
            {
                if (++written == checkpoints)
                {
                    cancel.Cancel();
                }
            },
        };
        return runner.Run(cancel.Token);
    }
}
