using System.Diagnostics;
using System.Globalization;

namespace ImplicitBias.Flow.Experiments.Running;

/// <summary>One progress sample of a running solve.</summary>
/// <param name="Time">Flow time t.</param>
/// <param name="LogLoss">log L.</param>
/// <param name="Step">Last accepted step size h.</param>
/// <param name="AcceptedSteps">Accepted steps so far.</param>
/// <param name="RejectedSteps">Rejected steps so far.</param>
/// <param name="Evaluations">Gradient (right-hand side) evaluations so far.</param>
public readonly record struct ProgressSample(double Time, double LogLoss, double Step, long AcceptedSteps, long RejectedSteps, long Evaluations);

/// <summary>
/// Shows the progress of a long solve: on a terminal one line rewritten in place a few times a second;
/// when the output is redirected (CI, a log file) a plain line every few seconds, so logs stay readable.
/// </summary>
public sealed class ProgressReporter
{
    private readonly TextWriter _output;
    private readonly bool _interactive;
    private readonly TimeSpan _interval;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly string _label;
    private TimeSpan? _last;
    private int _lastWidth;

    /// <summary>Creates a reporter.</summary>
    /// <param name="output">Where to write.</param>
    /// <param name="label">Run label shown at the start of each line.</param>
    /// <param name="interactive">True for a terminal (in-place updates); null detects it from the console.</param>
    /// <param name="interval">Minimum time between updates (default 0.25 s on a terminal, 5 s otherwise).</param>
    public ProgressReporter(TextWriter output, string label, bool? interactive = null, TimeSpan? interval = null)
    {
        _output = output;
        _label = label;
        _interactive = interactive ?? (ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected);
        _interval = interval ?? (_interactive ? TimeSpan.FromSeconds(0.25) : TimeSpan.FromSeconds(5));
    }

    /// <summary>Seconds since the reporter was created.</summary>
    public double ElapsedSeconds => _clock.Elapsed.TotalSeconds;

    /// <summary>Reports a sample; writes only when the interval has passed since the last write.</summary>
    public void Report(in ProgressSample sample)
    {
        TimeSpan now = _clock.Elapsed;
        if (_last is TimeSpan last && now - last < _interval)
        {
            return;
        }

        _last = now;
        Write(sample, final: false);
    }

    /// <summary>Writes the last sample and ends the in-place line.</summary>
    public void Finish(in ProgressSample sample, string status)
    {
        Write(sample, final: true);
        _output.WriteLine($"{_label}: {status}");
    }

    /// <summary>Formats one progress line.</summary>
    public static string Format(string label, in ProgressSample s, double elapsedSeconds) => string.Create(
        CultureInfo.InvariantCulture,
        $"{label}: t={s.Time:G4} logL={s.LogLoss:F3} h={s.Step:G3} steps={s.AcceptedSteps} (+{s.RejectedSteps} rejected) evals={s.Evaluations} elapsed={elapsedSeconds:F1}s");

    private void Write(in ProgressSample sample, bool final)
    {
        string line = Format(_label, sample, ElapsedSeconds);
        if (_interactive)
        {
            // Pad to erase what a longer previous line left behind.
            _output.Write("\r" + line.PadRight(_lastWidth));
            _lastWidth = line.Length;
            if (final)
            {
                _output.WriteLine();
            }
        }
        else
        {
            _output.WriteLine(line);
        }

        _output.Flush();
    }
}
