using System.Runtime.InteropServices;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>
/// Ctrl-C and SIGTERM as one cancellation token for the long verbs (run, sweep): the solve ends at its next step,
/// what was computed and a checkpoint are written, and the status is "interrupted". Dispose to stop listening.
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly PosixSignalRegistration _term;

    public StopSignals()
    {
        Console.CancelKeyPress += OnCancelKey;
        _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            _source.Cancel();
        });
    }

    /// <summary>Cancelled at the first Ctrl-C or SIGTERM.</summary>
    public CancellationToken Token => _source.Token;

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKey;
        _term.Dispose();
        _source.Dispose();
    }

    private void OnCancelKey(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true;
        _source.Cancel();
    }
}
