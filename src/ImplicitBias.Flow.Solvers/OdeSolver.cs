using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Solvers;

/// <summary>
/// The single entry point of the ODE engine, in the spirit of diffrax's <c>diffeqsolve</c>: a term, an algebra,
/// a method, an interval, an initial state and options in; an <see cref="OdeResult"/> out. Numerical trouble never
/// throws: it ends the solve with a status and everything computed so far.
/// </summary>
public static class OdeSolver
{
    /// <summary>Integrates y' = −c_b y + N(t, y) from <paramref name="t0"/> to <paramref name="t1"/> &gt; t0.</summary>
    /// <typeparam name="TState">The storage of one state vector.</typeparam>
    /// <param name="term">Evaluates N (the whole right-hand side when no block decays).</param>
    /// <param name="algebra">Vector operations on states; its layout carries tolerances and decay rates.</param>
    /// <param name="method">The integration method.</param>
    /// <param name="t0">Initial time.</param>
    /// <param name="t1">Final time.</param>
    /// <param name="y0">Initial state (not modified).</param>
    /// <param name="options">Controller, saving, events, callback, limits.</param>
    public static OdeResult Solve<TState>(IOdeTerm<TState> term, IStateAlgebra<TState> algebra, OdeMethod method, double t0, double t1, TState y0, OdeOptions<TState>? options = null)
        where TState : class
    {
        ArgumentNullException.ThrowIfNull(term);
        ArgumentNullException.ThrowIfNull(algebra);
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(y0);
        options ??= new OdeOptions<TState>();
        if (!double.IsFinite(t0) || !double.IsFinite(t1) || !(t1 > t0))
        {
            throw new ArgumentException($"Need finite t0 < t1, got [{t0}, {t1}].");
        }

        IStepSizeController controller = ControllerOf(method, options);
        bool unsized = controller is ConstantStepSize { Step: null, Count: null } && options.InitialStep is null;
        if (!method.IsAdaptive && (controller.IsAdaptive || unsized))
        {
            throw new ArgumentException($"{method.Name} is a fixed-step method: set OdeOptions.FixedStep or FixedStepCount.");
        }

        if (unsized)
        {
            throw new ArgumentException("A ConstantStepSize controller needs a Step, a Count or OdeOptions.InitialStep.");
        }

        var run = new Run<TState>(term, algebra, method, controller, options, t0, t1, y0);
        return run.Execute();
    }

    /// <summary>
    /// The controller of a solve: fixed steps when the options ask for them (today's FixedStep/FixedStepCount),
    /// else the options' controller, else the method's default.
    /// </summary>
    private static IStepSizeController ControllerOf<TState>(OdeMethod method, OdeOptions<TState> options)
        where TState : class =>
        options.FixedStepCount is int count ? new ConstantStepSize { Count = count }
        : options.FixedStep is double step ? new ConstantStepSize { Step = step }
        : options.Controller ?? method.DefaultController;

    private sealed class Run<TState> : IInitialStepProbe
        where TState : class
    {
        private readonly IStateAlgebra<TState> _algebra;
        private readonly OdeMethod _method;
        private readonly OdeOptions<TState> _options;
        private readonly IStepSizeController _controller;
        private readonly ScaledErrorNorm<TState> _norm;
        private readonly IStepper<TState> _stepper;
        private readonly double _t0;
        private readonly double _t1;
        private readonly OdeResult _result;
        private readonly TState _scratch;
        private readonly double[] _eventValues;
        private TState _y;
        private TState _yNew;
        private int _nextSave;

        // The step size and the controller's memory (kept in fields so that a checkpoint can hold them).
        private double _h;
        private ControllerMemory _memory = ControllerMemory.Initial;
        private long _steps;

        public Run(IOdeTerm<TState> term, IStateAlgebra<TState> algebra, OdeMethod method, IStepSizeController controller, OdeOptions<TState> options, double t0, double t1, TState y0)
        {
            _algebra = algebra;
            _method = method;
            _controller = controller;
            _options = options;
            _t0 = t0;
            _t1 = t1;
            _norm = new ScaledErrorNorm<TState>(algebra, controller.Tolerances(algebra.Layout));
            if (options.ToleranceScale is { } scale)
            {
                _norm.Scale = scale();
            }

            _stepper = method.CreateStepper(algebra, term, _norm);
            _y = algebra.Allocate();
            _yNew = algebra.Allocate();
            _scratch = algebra.Allocate();
            algebra.Copy(y0, _y);
            _eventValues = new double[options.Events.Count];
            int capacity = options.SaveAt.Kind == SaveAtKind.Times ? options.SaveAt.RequestedTimes.Count : 16;
            _result = new OdeResult(capacity) { RejectedByBlock = controller.IsAdaptive ? new long[algebra.Layout.BlockCount] : [] };
        }

        public OdeResult Execute()
        {
            if (_options.ResumeFrom is { } checkpoint)
            {
                return Resume(checkpoint);
            }

            double t = _t0;
            SaveInitial();
            if (!_algebra.AllFinite(_y))
            {
                return Finish(t, OdeStatus.NonFiniteState, "The initial state is not finite.");
            }

            _stepper.Start(t, _y);
            for (int e = 0; e < _eventValues.Length; e++)
            {
                OdeEvent<TState> ev = _options.Events[e];
                double g = ev.Condition(t, _y);
                _eventValues[e] = g;
                bool metAlready = ev.Direction switch
                {
                    EventDirection.Falling => g <= 0,
                    EventDirection.Rising => g >= 0,
                    _ => g == 0,
                };
                if (ev.FiresAtStart && metAlready && (ev.ExactCondition is not { } exact || PastCrossing(ev.Direction, exact(t, _y))))
                {
                    _result.EventIndex = e;
                    return Finish(t, OdeStatus.EventReached, $"Event {e} held at the start, t = {t}.");
                }
            }

            _h = _controller.FirstStep(_t0, _t1, _options.InitialStep, Math.Min(_options.MaxStep, _t1 - _t0), this);
            return Loop(t);
        }

        private OdeResult Resume(OdeCheckpoint c)
        {
            StateLayout layout = _algebra.Layout;
            if (c.State.Length != layout.Length || c.Derivative.Length != layout.Length || c.EventValues.Length != _eventValues.Length)
            {
                throw new ArgumentException("The checkpoint does not match this problem's state layout or events.");
            }

            _algebra.Write(c.State, _y);
            _algebra.Write(c.Derivative, _scratch);
            _stepper.Resume(c.Time, _y, _scratch, c.RhsEvaluations);
            _stepper.RestoreMemory(c.StepperMemory);
            c.EventValues.CopyTo(_eventValues, 0);
            _h = c.StepSize;
            _memory = new ControllerMemory(c.PreviousError, c.RejectedLast, c.LastWasNonFinite);
            _steps = c.Steps;
            _result.AcceptedSteps = c.AcceptedSteps;
            _result.RejectedSteps = c.RejectedSteps;
            if (c.RejectedByBlock.Length == _result.RejectedByBlock.Length)
            {
                c.RejectedByBlock.CopyTo(_result.RejectedByBlock, 0);
            }

            for (int i = 0; i + 1 < c.RejectedByCoordinate.Length; i += 2)
            {
                _result.ByCoordinate[(int)c.RejectedByCoordinate[i]] = c.RejectedByCoordinate[i + 1];
            }

            _nextSave = c.NextSave;
            return Loop(c.Time);
        }

        private OdeCheckpoint TakeCheckpoint(double t)
        {
            var state = new double[_algebra.Layout.Length];
            var derivative = new double[_algebra.Layout.Length];
            _algebra.Read(_y, state);
            _algebra.Read(_stepper.CachedDerivative, derivative);
            return new OdeCheckpoint
            {
                Time = t,
                State = state,
                Derivative = derivative,
                StepSize = _h,
                PreviousError = _memory.PreviousError,
                RejectedLast = _memory.RejectedLast,
                LastWasNonFinite = _memory.LastWasNonFinite,
                Steps = _steps,
                AcceptedSteps = _result.AcceptedSteps,
                RejectedSteps = _result.RejectedSteps,
                RhsEvaluations = _stepper.Evaluations,
                NextSave = _nextSave,
                EventValues = (double[])_eventValues.Clone(),
                StepperMemory = _stepper.Memory,
                RejectedByBlock = (long[])_result.RejectedByBlock.Clone(),
                RejectedByCoordinate = [.. _result.ByCoordinate.OrderBy(p => p.Key).SelectMany(p => new[] { (long)p.Key, p.Value })],
            };
        }

        /// <summary>
        /// The step loop: the controller proposes each step and keeps or rejects it (error control for the adaptive
        /// controllers; with <see cref="ConstantStepSize"/> every step is kept unless non-finite).
        /// </summary>
        private OdeResult Loop(double t)
        {
            bool adaptive = _controller.IsAdaptive;
            double maxStep = Math.Min(_options.MaxStep, _t1 - _t0);
            while (true)
            {
                if (_options.CheckpointDue is { } due && _options.Checkpoint is { } write && due())
                {
                    write(TakeCheckpoint(t));
                }

                if (_options.Cancellation.IsCancellationRequested)
                {
                    _options.Checkpoint?.Invoke(TakeCheckpoint(t));
                    return Finish(t, OdeStatus.Cancelled, $"Cancelled at t = {t}.");
                }

                if (_steps >= _options.MaxSteps)
                {
                    return Finish(t, OdeStatus.MaxStepsReached, $"Took the maximum of {_options.MaxSteps} steps at t = {t}.");
                }

                (double h, double tNew, bool last) = _controller.Propose(_t0, _t1, t, _h, _result.AcceptedSteps);
                double ulp = Math.BitIncrement(Math.Abs(t)) - Math.Abs(t);
                if (!(h >= 10 * ulp))
                {
                    return _memory.LastWasNonFinite
                        ? Finish(t, OdeStatus.NonFiniteState, $"The state or its derivative is not finite near t = {t}; shrinking the step did not help.")
                        : Finish(t, OdeStatus.StepSizeUnderflow, $"Step size {h:g3} fell below 10 ulp of t = {t}.");
                }

                _steps++;
                double error = _stepper.Attempt(t, _y, h, _yNew);
                if (!adaptive)
                {
                    if (double.IsNaN(error) || !_algebra.AllFinite(_yNew))
                    {
                        _result.RejectedSteps++;
                        return Finish(t, OdeStatus.NonFiniteState, $"The state became non-finite in the step from t = {t} (fixed step {h:g3}: try a smaller Solver:Step).");
                    }

                    error = 0.0;
                }

                StepDecision decision = _controller.Decide(new StepAttempt(_h, h, error, _stepper.ErrorExponentOrder ?? _method.ErrorExponentOrder, maxStep), ref _memory);
                if (decision.Accept)
                {
                    if (AcceptStep(t, h, tNew, error) is { } ended)
                    {
                        return ended;
                    }

                    _h = decision.NextStep;
                    t = tNew;
                    if (last)
                    {
                        return Finish(t, OdeStatus.Success, "Reached the final time.");
                    }
                }
                else
                {
                    _result.RejectedSteps++;
                    if (double.IsFinite(error) && _norm.CauseOfLast() is { Block: >= 0, Coordinate: >= 0 } cause)
                    {
                        _result.RejectedByBlock[cause.Block]++;
                        _result.ByCoordinate[cause.Coordinate] = _result.ByCoordinate.GetValueOrDefault(cause.Coordinate) + 1;
                    }

                    Report(t, h, error, false);
                    _h = decision.NextStep;
                }
            }
        }

        int IInitialStepProbe.Order => _method.Order;

        double IInitialStepProbe.StateNorm() => _norm.Measure(_y, _y, _y);

        double IInitialStepProbe.DerivativeNorm() => _norm.Measure(_y, _y, _stepper.FirstStage);

        /// <summary>‖f(t0 + h, y0 + h f0) − f0‖ for Hairer's starting step (one more evaluation).</summary>
        double IInitialStepProbe.DerivativeChangeNorm(double h)
        {
            TState f0 = _stepper.FirstStage;
            _algebra.Combine(_y, [1.0], [h], new ReadOnlySpan<TState>(ref f0), false, _scratch);
            _stepper.Derivative(_t0 + h, _scratch, _yNew);
            _algebra.Combine(_yNew, [1.0], [-1.0], new ReadOnlySpan<TState>(ref f0), false, _scratch);
            return _norm.Measure(_y, _y, _scratch);
        }

        private OdeResult? AcceptStep(double t, double h, double tNew, double error)
        {
            if (!_algebra.AllFinite(_yNew))
            {
                return Finish(t, OdeStatus.NonFiniteState, $"The state became non-finite in the step from t = {t}.");
            }

            _stepper.Accept(t, h, _y, _yNew);
            _result.AcceptedSteps++;
            if (_eventValues.Length > 0 && LocateEvent(t, h, tNew) is { } ended)
            {
                return ended;
            }

            SaveWithin(t, h, tNew, tNew);
            if (_options.AfterStep?.Invoke(tNew, _yNew) == true)
            {
                // The state was corrected: the next step's crossings are judged from the corrected values.
                for (int e = 0; e < _eventValues.Length; e++)
                {
                    _eventValues[e] = _options.Events[e].Condition(tNew, _yNew);
                }
            }

            (_y, _yNew) = (_yNew, _y);
            if (_options.ToleranceScale is { } scale)
            {
                _norm.Scale = scale();
            }

            Report(tNew, h, error, true);
            return null;
        }

        private static bool PastCrossing(EventDirection direction, double g) => direction switch
        {
            EventDirection.Falling => g <= 0,
            EventDirection.Rising => g >= 0,
            _ => g == 0,
        };

        private OdeResult? LocateEvent(double t, double h, double tNew)
        {
            int firstEvent = -1;
            double firstTheta = double.PositiveInfinity;
            for (int e = 0; e < _eventValues.Length; e++)
            {
                OdeEvent<TState> ev = _options.Events[e];
                double g0 = _eventValues[e];
                double g1 = ev.Condition(tNew, _yNew);
                _eventValues[e] = g1;
                bool rising = g0 < 0 && g1 >= 0;
                bool falling = g0 > 0 && g1 <= 0;
                bool crossed = ev.Direction switch
                {
                    EventDirection.Rising => rising,
                    EventDirection.Falling => falling,
                    _ => rising || falling,
                };
                double theta;
                if (!_stepper.HasDenseOutput)
                {
                    // A discrete map: nothing lies between its iterates; the event holds at the step's end, judged
                    // there on the exact condition when there is one.
                    bool seen = crossed || (ev.ExactCondition is not null && PastCrossing(ev.Direction, g1));
                    if (!seen || (ev.ExactCondition is { } exactAtEnd && !PastCrossing(ev.Direction, exactAtEnd(tNew, _yNew))))
                    {
                        continue;
                    }

                    theta = 1.0;
                }
                else if (ev.ExactCondition is { } exact)
                {
                    // The tracked condition crossed (or stays past its crossing); the event is real only if the exact
                    // one has crossed by the end of the step. Then locate it on the exact condition (from the step's
                    // start, or at the start if it had already crossed there unseen), so the final state satisfies it.
                    if (!crossed && !PastCrossing(ev.Direction, g1))
                    {
                        continue;
                    }

                    double e1 = exact(tNew, _yNew);
                    if (!PastCrossing(ev.Direction, e1))
                    {
                        continue;
                    }

                    double e0 = exact(t, _y);
                    theta = PastCrossing(ev.Direction, e0) ? 0.0 : FindRoot(exact, t, h, e0, e1);
                }
                else if (crossed)
                {
                    theta = FindRoot(ev.Condition, t, h, g0, g1);
                }
                else
                {
                    continue;
                }

                if (theta < firstTheta)
                {
                    firstTheta = theta;
                    firstEvent = e;
                }
            }

            if (firstEvent < 0)
            {
                return null;
            }

            double tEvent = _stepper.HasDenseOutput ? t + (firstTheta * h) : tNew;
            SaveWithin(t, h, tNew, tEvent);
            if (firstTheta >= 1)
            {
                _algebra.Copy(_yNew, _y);
            }
            else if (firstTheta > 0)
            {
                _stepper.Interpolate(firstTheta, _scratch);
                _algebra.Copy(_scratch, _y);
            }

            _result.EventIndex = firstEvent;
            Report(tEvent, h, 0.0, true);
            return Finish(tEvent, OdeStatus.EventReached, $"Event {firstEvent} reached at t = {tEvent}.");
        }

        /// <summary>
        /// The Illinois variant of regula falsi (Dowell &amp; Jarratt, BIT 11 (1971) 168–174) on the dense output, to
        /// 1e-10 relative in t: superlinear and always bracketing.
        /// </summary>
        private double FindRoot(Func<double, TState, double> condition, double t, double h, double g0, double g1)
        {
            double a = 0.0;
            double b = 1.0;
            double ga = g0;
            double gb = g1;
            double tolerance = 1e-10 * Math.Max(Math.Abs(t + h), Math.Abs(h)) / h;
            int side = 0;
            for (int iteration = 0; iteration < 200 && b - a > tolerance; iteration++)
            {
                double m = gb == ga ? (a + b) / 2 : b - (gb * (b - a) / (gb - ga));
                if (!(m > a && m < b))
                {
                    m = (a + b) / 2;
                }

                _stepper.Interpolate(m, _scratch);
                double gm = condition(t + (m * h), _scratch);
                if (double.IsNaN(gm))
                {
                    // The interpolant is not finite there (a wild step): look for the crossing before it.
                    b = m;
                    continue;
                }

                if (gm == 0)
                {
                    return m;
                }

                if (Math.Sign(gm) == Math.Sign(gb))
                {
                    b = m;
                    gb = gm;
                    if (side == -1)
                    {
                        ga /= 2;
                    }

                    side = -1;
                }
                else
                {
                    a = m;
                    ga = gm;
                    if (side == 1)
                    {
                        gb /= 2;
                    }

                    side = 1;
                }
            }

            return b;
        }

        private void SaveInitial()
        {
            SaveAt saveAt = _options.SaveAt;
            if (saveAt.Kind == SaveAtKind.EveryNthStep)
            {
                Save(_t0, _y);
            }
            else if (saveAt.Kind == SaveAtKind.Times)
            {
                IReadOnlyList<double> times = saveAt.RequestedTimes;
                while (_nextSave < times.Count && times[_nextSave] <= _t0)
                {
                    if (times[_nextSave] == _t0)
                    {
                        Save(_t0, _y);
                    }

                    _nextSave++;
                }
            }
        }

        /// <summary>Saves what falls in (t, until] of the accepted step [t, tNew].</summary>
        private void SaveWithin(double t, double h, double tNew, double until)
        {
            SaveAt saveAt = _options.SaveAt;
            if (saveAt.Kind == SaveAtKind.EveryNthStep)
            {
                if (until == tNew && (_result.AcceptedSteps % saveAt.Stride == 0 || tNew == _t1))
                {
                    Save(tNew, _yNew);
                }

                return;
            }

            if (saveAt.Kind != SaveAtKind.Times)
            {
                return;
            }

            IReadOnlyList<double> times = saveAt.RequestedTimes;
            while (_nextSave < times.Count && times[_nextSave] <= until)
            {
                double tau = times[_nextSave];
                if (tau == tNew)
                {
                    Save(tau, _yNew);
                }
                else
                {
                    _stepper.Interpolate((tau - t) / h, _scratch);
                    Save(tau, _scratch);
                }

                _nextSave++;
            }
        }

        private void Save(double t, TState state)
        {
            var copy = new double[_algebra.Layout.Length];
            _algebra.Read(state, copy);
            _options.SaveCallback?.Invoke(t, copy);
            if (_options.KeepSavedStates)
            {
                _result.SavedTimes.Add(t);
                _result.SavedStates.Add(copy);
            }
        }

        private void Report(double t, double h, double error, bool accepted) =>
            _options.StepCallback?.Invoke(new StepInfo(t, h, error, accepted, _result.AcceptedSteps, _result.RejectedSteps, _stepper.Evaluations));

        private OdeResult Finish(double t, OdeStatus status, string message)
        {
            _result.Status = status;
            _result.Message = message;
            _result.FinalTime = t;
            _result.FinalState = new double[_algebra.Layout.Length];
            _algebra.Read(_y, _result.FinalState);
            _result.RhsEvaluations = _stepper.Evaluations;
            _result.StepperNote = _stepper.Note;
            return _result;
        }
    }
}
