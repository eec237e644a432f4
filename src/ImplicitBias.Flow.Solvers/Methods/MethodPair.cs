using ImplicitBias.Flow.Solvers.Controllers;

namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// A method "A+B" made of two: named after both, and judged, controlled and ordered as the first, which starts every
/// solve. The pairs differ in what makes the first hand over: <see cref="ExplicitThenExponential"/> and
/// <see cref="ExplicitThenRosenbrock"/> hand over one way (<see cref="HandOverStepper{TState}"/>) when the first's
/// step is held; <see cref="ExponentialThenRosenbrock"/> lets the two take turns by measured cost
/// (<see cref="MeasuredSwitchStepper{TState}"/>).
/// </summary>
public abstract class MethodPair : OdeMethod
{
    private readonly OdeMethod _first;
    private readonly OdeMethod _then;

    /// <summary>Takes the two methods (checked by the derived pair).</summary>
    private protected MethodPair(OdeMethod first, OdeMethod then)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(then);
        _first = first;
        _then = then;
    }

    /// <summary>The character between the two names.</summary>
    public const char Separator = '+';

    /// <inheritdoc />
    public override string Name => $"{_first.Name}{Separator}{_then.Name}";

    /// <inheritdoc />
    public override int Order => _first.Order;

    /// <inheritdoc />
    public override int ErrorExponentOrder => _first.ErrorExponentOrder;

    /// <inheritdoc />
    public override IStepSizeController DefaultController => _first.DefaultController;
}
