using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// How a <see cref="MeasuredSwitchStepper{TState}"/> measures and when it tries the other method. The cost it compares is
/// flow time advanced per evaluation of N, over windows of accepted steps: deterministic (a run makes the same choices on
/// any machine), and what the issue of a flow's cost counts.
/// </summary>
/// <param name="Window">Accepted steps over which the running method's rate is measured (and a trial's length).</param>
/// <param name="FirstStint">Accepted steps the running method takes before the next trial after it won one.</param>
/// <param name="LongestStint">The most accepted steps between trials (the stint doubles after each lost trial).</param>
/// <param name="Advantage">How much more time per evaluation a trial must reach to take over (hysteresis).</param>
internal sealed record MeasuredSwitchSettings(int Window, int FirstStint, int LongestStint, double Advantage);

/// <summary>
/// Two steppers that take turns by measured cost: the first alone until <see cref="IsDue"/> first holds, then the second
/// on trial for a window of accepted steps; the method that advanced more flow time per evaluation (the trial only if by
/// the settings' advantage) goes on for a stint, after which the other is tried again. Each lost trial doubles the stint,
/// so trials of a method that keeps losing cost a vanishing share of the run, and a method that starts to win later is
/// still found. The switch happens at the start of a step, as in <see cref="HandOverStepper{TState}"/>; the phase, the
/// counters and the evaluations of earlier segments are checkpoint memory, so a resumed solve makes the same choices.
/// </summary>
internal sealed class MeasuredSwitchStepper<TState> : IStepper<TState>
    where TState : class
{
    private const int Header = 15;

    private readonly IStepper<TState>[] _steppers;
    private readonly int[] _orders;
    private readonly MeasuredSwitchSettings _settings;

    private int _current;
    private bool _measuring;
    private bool _trial;
    private int _due = -1;
    private long _spent;
    private long _segmentStart;
    private int _steps;
    private double _markTime;
    private long _markEvaluations;
    private int _markSteps;
    private double _lastRate = double.NaN;
    private int _stint;
    private int _switches;
    private double _handOverTime = double.NaN;
    private readonly double[] _timeOn = new double[2];

    // What Resume received; RestoreMemory (called right after it) decides which stepper resumes.
    private double _resumeTime;
    private TState? _resumeState;
    private TState? _resumeDerivative;
    private long _resumeEvaluations;

    public MeasuredSwitchStepper(IStepper<TState> first, IStepper<TState> then, int firstOrder, int thenOrder, MeasuredSwitchSettings settings)
    {
        _steppers = [first, then];
        _orders = [firstOrder, thenOrder];
        _settings = settings;
    }

    /// <summary>Whether, at this time (the end of an accepted step of the first method), the trials may begin.</summary>
    public required Func<double, bool> IsDue { get; init; }

    /// <summary>The note from (measuring, hand-over time, time spent on each method since, switches).</summary>
    public required Func<bool, double, double[], int, string> Note { get; init; }

    private IStepper<TState> Current => _steppers[_current];

    public long Evaluations => _spent + Current.Evaluations - _segmentStart;

    public TState FirstStage => Current.FirstStage;

    public TState CachedDerivative => Current.CachedDerivative;

    int? IStepper<TState>.ErrorExponentOrder => _orders[_current];

    string? IStepper<TState>.Note => Note(_measuring, _handOverTime, _timeOn, _switches);

    public double[] Memory =>
    [
        _current, _measuring ? 1 : 0, _trial ? 1 : 0, _due, _spent, _steps, _markTime, _markEvaluations, _markSteps,
        _lastRate, _stint, _switches, _handOverTime, _timeOn[0], _timeOn[1],
        .. Current.Memory,
    ];

    public void Start(double t, TState y)
    {
        Reset(t);
        _segmentStart = _steppers[0].Evaluations;
        _steppers[0].Start(t, y);
    }

    public void Resume(double t, TState y, TState derivative, long evaluations)
    {
        _resumeTime = t;
        _resumeState = y;
        _resumeDerivative = derivative;
        _resumeEvaluations = evaluations;

        // A checkpoint without this stepper's memory resumes the first method's phase.
        Reset(t);
        _steppers[0].Resume(t, y, derivative, evaluations);
        _segmentStart = 0;
    }

    private void Reset(double t)
    {
        _current = 0;
        _measuring = false;
        _trial = false;
        _due = -1;
        _spent = 0;
        _steps = 0;
        _markTime = t;
        _markEvaluations = 0;
        _markSteps = 0;
        _lastRate = double.NaN;
        _stint = _settings.FirstStint;
        _switches = 0;
        _handOverTime = double.NaN;
        _timeOn[0] = _timeOn[1] = 0;
    }

    public void RestoreMemory(double[] memory)
    {
        if (memory.Length < Header)
        {
            return;
        }

        _current = (int)memory[0];
        _measuring = memory[1] != 0;
        _trial = memory[2] != 0;
        _due = (int)memory[3];
        _spent = (long)memory[4];
        _steps = (int)memory[5];
        _markTime = memory[6];
        _markEvaluations = (long)memory[7];
        _markSteps = (int)memory[8];
        _lastRate = memory[9];
        _stint = (int)memory[10];
        _switches = (int)memory[11];
        _handOverTime = memory[12];
        _timeOn[0] = memory[13];
        _timeOn[1] = memory[14];
        Current.Resume(_resumeTime, _resumeState!, _resumeDerivative!, _resumeEvaluations - _spent);
        _segmentStart = 0;
        Current.RestoreMemory(memory[Header..]);
    }

    public void Derivative(double t, TState y, TState destination) => Current.Derivative(t, y, destination);

    public double Attempt(double t, TState y, double h, TState yNew)
    {
        if (_due >= 0)
        {
            _spent = Evaluations;
            _current = _due;
            _due = -1;
            _segmentStart = Current.Evaluations;
            _switches++;
            Current.Start(t, y);

            // Every segment starts a window here, so a trial's cost includes its start (a fresh W for the W-method), and
            // a method that comes back after the other's lost trial is measured afresh.
            _markTime = t;
            _markEvaluations = _spent;
            _steps = _markSteps = 0;
        }

        return Current.Attempt(t, y, h, yNew);
    }

    public void Accept(double t, double h, TState y, TState yNew)
    {
        Current.Accept(t, h, y, yNew);
        double end = t + h;
        long evaluations = Evaluations;
        _steps++;
        if (_measuring)
        {
            _timeOn[_current] += h;
        }

        if (_trial)
        {
            if (_steps >= _settings.Window)
            {
                // The window is not advanced during a trial: it spans the trial from its start.
                double rate = (end - _markTime) / Math.Max(1, evaluations - _markEvaluations);
                _trial = false;
                if (rate > _settings.Advantage * _lastRate)
                {
                    // The trial won: it runs on, measured from here, for a first stint.
                    _lastRate = rate;
                    _stint = _settings.FirstStint;
                    _steps = _markSteps = 0;
                    _markTime = end;
                    _markEvaluations = evaluations;
                }
                else
                {
                    _due = 1 - _current;
                    _stint = Math.Min(2 * _stint, _settings.LongestStint);
                }
            }

            return;
        }

        if (++_markSteps >= _settings.Window)
        {
            _lastRate = (end - _markTime) / Math.Max(1, evaluations - _markEvaluations);
            _markTime = end;
            _markEvaluations = evaluations;
            _markSteps = 0;
        }

        if (!_measuring)
        {
            if (!IsDue(end))
            {
                return;
            }

            _measuring = true;
            _handOverTime = end;
            if (double.IsNaN(_lastRate))
            {
                _lastRate = (end - _markTime) / Math.Max(1, evaluations - _markEvaluations);
            }

            _steps = _stint;
        }

        if (_steps >= _stint && !double.IsNaN(_lastRate))
        {
            _due = 1 - _current;
            _trial = true;
        }
    }

    public void Interpolate(double theta, TState destination) => Current.Interpolate(theta, destination);
}
