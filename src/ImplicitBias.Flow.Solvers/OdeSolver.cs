using ImplicitBias.Flow.Core.State;
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

        if (!method.IsAdaptive && options.FixedStepCount is null && options.FixedStep is null)
        {
            throw new ArgumentException($"{method.Name} is a fixed-step method: set OdeOptions.FixedStep or FixedStepCount.");
        }

        if (options.FixedStepCount is < 1)
        {
            throw new ArgumentException("FixedStepCount must be positive.");
        }

        if (options.FixedStep is double fixedStep && !(fixedStep > 0 && double.IsFinite(fixedStep)))
        {
            throw new ArgumentException($"FixedStep must be positive and finite, got {fixedStep}.");
        }

        var run = new Run<TState>(term, algebra, method, options, t0, t1, y0);
        return run.Execute();
    }

    private sealed class Run<TState>
        where TState : class
    {
        private readonly IStateAlgebra<TState> _algebra;
        private readonly OdeMethod _method;
        private readonly OdeOptions<TState> _options;
        private readonly IStepper<TState> _stepper;
        private readonly double _t0;
        private readonly double _t1;
        private readonly OdeResult _result;
        private readonly TState _scratch;
        private readonly double[] _eventValues;
        private TState _y;
        private TState _yNew;
        private int _nextSave;

        // The controller's memory (kept in fields so that a checkpoint can hold it).
        private double _h;
        private double _previousError = 1e-4;
        private bool _rejectedLast;
        private bool _lastWasNonFinite;
        private long _steps;

        public Run(IOdeTerm<TState> term, IStateAlgebra<TState> algebra, OdeMethod method, OdeOptions<TState> options, double t0, double t1, TState y0)
        {
            _algebra = algebra;
            _method = method;
            _options = options;
            _t0 = t0;
            _t1 = t1;
            _stepper = method.CreateStepper(algebra, term);
            _y = algebra.Allocate();
            _yNew = algebra.Allocate();
            _scratch = algebra.Allocate();
            algebra.Copy(y0, _y);
            _eventValues = new double[options.Events.Count];
            int capacity = options.SaveAt.Kind == SaveAtKind.Times ? options.SaveAt.RequestedTimes.Count : 16;
            _result = new OdeResult(capacity);
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

            _h = _options.FixedStepCount is int n ? (_t1 - _t0) / n
                : _options.FixedStep is double fixedStep ? fixedStep
                : double.NaN;
            if (double.IsNaN(_h))
            {
                double maxStep = Math.Min(_options.MaxStep, _t1 - _t0);
                _h = Math.Min(_options.InitialStep ?? InitialStep(maxStep), maxStep);
            }

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
            _previousError = c.PreviousError;
            _rejectedLast = c.RejectedLast;
            _lastWasNonFinite = c.LastWasNonFinite;
            _steps = c.Steps;
            _result.AcceptedSteps = c.AcceptedSteps;
            _result.RejectedSteps = c.RejectedSteps;
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
                PreviousError = _previousError,
                RejectedLast = _rejectedLast,
                LastWasNonFinite = _lastWasNonFinite,
                Steps = _steps,
                AcceptedSteps = _result.AcceptedSteps,
                RejectedSteps = _result.RejectedSteps,
                RhsEvaluations = _stepper.Evaluations,
                NextSave = _nextSave,
                EventValues = (double[])_eventValues.Clone(),
                StepperMemory = _stepper.Memory,
            };
        }

        /// <summary>
        /// The step loop: adaptive (error control, PI controller) or fixed (<see cref="OdeOptions{TState}.FixedStep"/>,
        /// <see cref="OdeOptions{TState}.FixedStepCount"/>: every step accepted unless non-finite).
        /// </summary>
        private OdeResult Loop(double t)
        {
            bool fixedSteps = _options.FixedStepCount is not null || _options.FixedStep is not null;
            StepSizeController controller = _options.Controller ?? _method.DefaultController;
            double beta = controller.Beta;
            double alpha = fixedSteps ? 0 : controller.Alpha ?? ((1.0 / _method.ErrorExponentOrder) - (0.75 * beta));
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

                double h = _h;
                bool last = false;
                double tNew;
                if (_options.FixedStepCount is int count)
                {
                    // Equal steps on the grid t0 + i (t1 − t0)/n, computed from i so that rounding does not accumulate.
                    long i = _result.AcceptedSteps;
                    last = i + 1 >= count;
                    tNew = last ? _t1 : _t0 + ((i + 1) * h);
                    h = tNew - t;
                }
                else if (fixedSteps)
                {
                    long i = _result.AcceptedSteps;
                    double grid = _t0 + ((i + 1) * h);
                    last = _t1 - grid <= 1e-9 * h; // land on t1 rather than leave a sliver
                    tNew = last ? _t1 : grid;
                    h = tNew - t;
                }
                else
                {
                    if (t + (1.01 * h) >= _t1)
                    {
                        // Stretch or shorten the last step to land exactly on t1 (Hairer's codes use the same 1 % slack).
                        h = _t1 - t;
                        last = true;
                    }

                    tNew = last ? _t1 : t + h;
                }

                double ulp = Math.BitIncrement(Math.Abs(t)) - Math.Abs(t);
                if (!(h >= 10 * ulp))
                {
                    return _lastWasNonFinite
                        ? Finish(t, OdeStatus.NonFiniteState, $"The state or its derivative is not finite near t = {t}; shrinking the step did not help.")
                        : Finish(t, OdeStatus.StepSizeUnderflow, $"Step size {h:g3} fell below 10 ulp of t = {t}.");
                }

                _steps++;
                double error = _stepper.Attempt(t, _y, h, _yNew);
                if (fixedSteps)
                {
                    if (double.IsNaN(error) || !_algebra.AllFinite(_yNew))
                    {
                        _result.RejectedSteps++;
                        return Finish(t, OdeStatus.NonFiniteState, $"The state became non-finite in the step from t = {t} (fixed step {h:g3}: try a smaller Solver:Step).");
                    }

                    error = 0.0;
                }

                if (error <= 1.0)
                {
                    if (AcceptStep(t, h, tNew, error) is { } ended)
                    {
                        return ended;
                    }

                    if (!fixedSteps)
                    {
                        // PI controller (Hairer §IV.2, DOPRI5's code): h_new = h · safety · err^{−α} · err_old^{β}.
                        double factor = Math.Pow(error, -alpha) * Math.Pow(_previousError, beta) * controller.Safety;
                        factor = Math.Clamp(factor, controller.MinFactor, controller.MaxFactor);
                        if (_rejectedLast)
                        {
                            // No growth right after a rejection (Hairer §II.4).
                            factor = Math.Min(factor, 1.0);
                        }

                        _previousError = Math.Max(error, 1e-4);
                        _h = Math.Min(h * factor, maxStep);
                    }

                    t = tNew;
                    if (last)
                    {
                        return Finish(t, OdeStatus.Success, "Reached the final time.");
                    }

                    _rejectedLast = false;
                    _lastWasNonFinite = false;
                }
                else
                {
                    _result.RejectedSteps++;
                    _lastWasNonFinite = double.IsNaN(error);
                    double factor = _lastWasNonFinite
                        ? controller.MinFactor
                        : Math.Max(controller.MinFactor, controller.Safety * Math.Pow(error, -alpha));
                    Report(t, h, error, false);
                    _h = h * Math.Min(factor, 1.0);
                    _rejectedLast = true;
                }
            }
        }

        /// <summary>Hairer's starting step size (Solving ODEs I, §II.4, algorithm on p. 169).</summary>
        private double InitialStep(double maxStep)
        {
            TState f0 = _stepper.FirstStage;
            double d0 = _algebra.ErrorNorm(_y, _y, _y);
            double d1 = _algebra.ErrorNorm(_y, _y, f0);
            double h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
            h0 = Math.Min(h0, maxStep);
            _algebra.Combine(_y, [1.0], [h0], new ReadOnlySpan<TState>(ref f0), false, _scratch);
            _stepper.Derivative(_t0 + h0, _scratch, _yNew);
            _algebra.Combine(_yNew, [1.0], [-1.0], new ReadOnlySpan<TState>(ref f0), false, _scratch);
            double d2 = _algebra.ErrorNorm(_y, _y, _scratch) / h0;
            double d = Math.Max(d1, d2);
            double h1 = !(d > 1e-15) ? Math.Max(1e-6, h0 * 1e-3) : Math.Pow(0.01 / d, 1.0 / _method.Order);
            double h = Math.Min(100 * h0, h1);
            return double.IsFinite(h) && h > 0 ? Math.Min(h, maxStep) : Math.Min(1e-6, maxStep);
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
            return _result;
        }
    }
}
