using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// A stepper made of two: the first until a given number of accepted steps in a row were held (by the pair's
/// own test, <see cref="IsHeld"/>), the second from the next step on (one way). The switch happens at the start of a
/// step, not at the accepted step's end, so saves and events inside the last step of the first method still interpolate
/// with it. The phase, the count and the evaluations before the switch are checkpoint memory, so a resumed solve switches
/// where the uninterrupted one did. Used by <see cref="ExplicitThenExponential"/>, <see cref="ExplicitThenRosenbrock"/> and
/// <see cref="ExponentialThenRosenbrock"/>.
/// </summary>
internal sealed class HandOverStepper<TState> : IStepper<TState>
    where TState : class
{
    private readonly IStepper<TState> _first;
    private readonly IStepper<TState> _then;
    private readonly int _consecutive;
    private readonly int _firstOrder;
    private readonly int _thenOrder;
    private bool _switched;
    private bool _switchDue;
    private int _count;
    private long _firstEvaluations;
    private double _switchTime = double.NaN;

    // What Resume received; RestoreMemory (called right after it) decides which stepper resumes.
    private double _resumeTime;
    private TState? _resumeState;
    private TState? _resumeDerivative;
    private long _resumeEvaluations;

    public HandOverStepper(IStepper<TState> first, IStepper<TState> then, int consecutive, int firstOrder, int thenOrder)
    {
        _first = first;
        _then = then;
        _consecutive = consecutive;
        _firstOrder = firstOrder;
        _thenOrder = thenOrder;
    }

    /// <summary>
    /// Whether the first method's accepted step (the stepper, the time at its end, its h) was held by what the second
    /// removes.
    /// </summary>
    public required Func<IStepper<TState>, double, double, bool> IsHeld { get; init; }

    /// <summary>The note from (switched, switch time).</summary>
    public required Func<bool, double, string> Note { get; init; }

    private IStepper<TState> Current => _switched ? _then : _first;

    public long Evaluations => _switched ? _firstEvaluations + _then.Evaluations : _first.Evaluations;

    public TState FirstStage => Current.FirstStage;

    public TState CachedDerivative => Current.CachedDerivative;

    int? IStepper<TState>.ErrorExponentOrder => _switched ? _thenOrder : _firstOrder;

    string? IStepper<TState>.Note => Note(_switched, _switchTime);

    public double[] Memory => [_switched ? 1 : 0, _switchDue ? 1 : 0, _count, _firstEvaluations, _switchTime, .. Current.Memory];

    public void Start(double t, TState y)
    {
        _switched = false;
        _switchDue = false;
        _count = 0;
        _first.Start(t, y);
    }

    public void Resume(double t, TState y, TState derivative, long evaluations)
    {
        _resumeTime = t;
        _resumeState = y;
        _resumeDerivative = derivative;
        _resumeEvaluations = evaluations;

        // A checkpoint without this stepper's memory resumes the first phase.
        _switched = false;
        _switchDue = false;
        _count = 0;
        _first.Resume(t, y, derivative, evaluations);
    }

    public void RestoreMemory(double[] memory)
    {
        if (memory.Length < 5)
        {
            return;
        }

        _switched = memory[0] != 0;
        _switchDue = memory[1] != 0;
        _count = (int)memory[2];
        _firstEvaluations = (long)memory[3];
        _switchTime = memory[4];
        if (_switched)
        {
            _then.Resume(_resumeTime, _resumeState!, _resumeDerivative!, _resumeEvaluations - _firstEvaluations);
        }

        Current.RestoreMemory(memory[5..]);
    }

    public void Derivative(double t, TState y, TState destination) => Current.Derivative(t, y, destination);

    public double Attempt(double t, TState y, double h, TState yNew)
    {
        if (_switchDue && !_switched)
        {
            _firstEvaluations = _first.Evaluations;
            _then.Start(t, y);
            _switched = true;
            _switchTime = t;
        }

        return Current.Attempt(t, y, h, yNew);
    }

    public void Accept(double t, double h, TState y, TState yNew)
    {
        Current.Accept(t, h, y, yNew);
        if (_switched)
        {
            return;
        }

        _count = IsHeld(_first, t + h, h) ? _count + 1 : 0;
        _switchDue = _count >= _consecutive;
    }

    public void Interpolate(double theta, TState destination) => Current.Interpolate(theta, destination);
}
