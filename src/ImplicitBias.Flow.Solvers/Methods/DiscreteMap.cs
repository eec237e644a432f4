using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;

namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// A discrete map y_{n+1} = Φ_h(t_n, y_n) on the states of an ODE (a discrete optimizer on its flow's state), which
/// <see cref="DiscreteMap"/> runs with the engine's fixed-step loop. The map carries, from one step to the next, an
/// evaluation at the current state (for a gradient method: ∇ log L and log L at θ_n), computed while making the step
/// before, so that each step costs one evaluation; the engine keeps it as the stepper's cached derivative (in its
/// checkpoints too). <see cref="IOdeTerm{TState}.Evaluate"/> writes that evaluation at a state (at the start of a
/// solve): it is not a derivative.
/// </summary>
/// <typeparam name="TState">The storage of one state vector.</typeparam>
public interface IDiscreteMapTerm<TState> : IOdeTerm<TState>
    where TState : class
{
    /// <summary>The map's own step h: t_n = n h (the solve's fixed step must be this).</summary>
    double StepSize { get; }

    /// <summary>
    /// y_{n+1} ← Φ_h(t_n, y_n) from <paramref name="evaluation"/> (the evaluation at <paramref name="y"/>), and
    /// <paramref name="nextEvaluation"/> ← the evaluation at y_{n+1}. Must not modify <paramref name="y"/> or
    /// <paramref name="evaluation"/>, nor allocate.
    /// </summary>
    /// <param name="t">t_n.</param>
    /// <param name="h">The step the engine took, t_{n+1} − t_n (equal to <see cref="StepSize"/> up to round-off of t).</param>
    /// <param name="y">y_n.</param>
    /// <param name="evaluation">The evaluation at y_n.</param>
    /// <param name="yNext">Receives y_{n+1}.</param>
    /// <param name="nextEvaluation">Receives the evaluation at y_{n+1}.</param>
    void Step(double t, double h, TState y, TState evaluation, TState yNext, TState nextEvaluation);
}

/// <summary>
/// The fixed-step "method" of a discrete map (<see cref="IDiscreteMapTerm{TState}"/>): each step of the engine's
/// fixed-step loop is one application of the map, so saves, terminal events, the non-finite status, MaxSteps,
/// cancellation and checkpoints of a discrete optimizer come from <see cref="OdeSolver.Solve{TState}"/> as they do for
/// a flow. A map has no dense output: save at grid times t0 + n h only; an event is located at the end of the step in
/// which it is first met. Not in <see cref="MethodCatalog"/>: it integrates no ODE (the order tests do not apply).
/// </summary>
public sealed class DiscreteMap : OdeMethod
{
    /// <summary>The name of the method (Solver:Method = discrete).</summary>
    public const string MethodName = "discrete";

    /// <inheritdoc />
    public override string Name => MethodName;

    /// <inheritdoc />
    /// <remarks>The discrete optimizers are first-order schemes for their flows (docs/mathematics.md §4).</remarks>
    public override int Order => 1;

    /// <inheritdoc />
    public override int ErrorExponentOrder => 0;

    internal override IStepper<TState> CreateStepper<TState>(IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm) =>
        term is IDiscreteMapTerm<TState> map
            ? new Stepper<TState>(algebra, map)
            : throw new ArgumentException($"The {MethodName} method needs a term that is an IDiscreteMapTerm<{typeof(TState).Name}>.", nameof(term));

    private sealed class Stepper<TState>(IStateAlgebra<TState> algebra, IDiscreteMapTerm<TState> map) : IStepper<TState>
        where TState : class
    {
        // The evaluation at the current state, and the one at the last attempted step's end (swapped on Accept).
        private TState _current = algebra.Allocate();
        private TState _next = algebra.Allocate();

        public long Evaluations { get; private set; }

        public TState FirstStage => _current;

        public TState CachedDerivative => _current;

        public bool HasDenseOutput => false;

        public void Start(double t, TState y)
        {
            map.Evaluate(t, y, _current);
            Evaluations++;
        }

        public void Resume(double t, TState y, TState derivative, long evaluations)
        {
            algebra.Copy(derivative, _current);
            Evaluations = evaluations;
        }

        public void Derivative(double t, TState y, TState destination)
        {
            map.Evaluate(t, y, destination);
            Evaluations++;
        }

        public double Attempt(double t, TState y, double h, TState yNew)
        {
            map.Step(t, h, y, _current, yNew, _next);
            Evaluations++;
            return algebra.AllFinite(yNew) ? 0.0 : double.NaN;
        }

        public void Accept(double t, double h, TState y, TState yNew) => (_current, _next) = (_next, _current);

        public void Interpolate(double theta, TState destination) =>
            throw new InvalidOperationException("A discrete map has no dense output: save at the grid times t0 + n h only.");
    }
}
