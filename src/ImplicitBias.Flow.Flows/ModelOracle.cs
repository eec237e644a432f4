using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Models.Evaluation;

namespace ImplicitBias.Flow.Flows;

/// <summary>The CPU evaluator of a model as the flows' gradient oracle.</summary>
/// <param name="evaluator">The evaluator (not thread-safe: one per flow).</param>
public sealed class ModelOracle(LossEvaluator evaluator) : IGradientOracle
{
    /// <summary>The wrapped evaluator (margins, outputs and weights of the last evaluation).</summary>
    public LossEvaluator Evaluator { get; } = evaluator ?? throw new ArgumentNullException(nameof(evaluator));

    /// <inheritdoc/>
    public ParameterLayout Layout => Evaluator.Network.Layout;

    /// <inheritdoc/>
    public double Evaluate(ReadOnlySpan<double> theta, Span<double> relativeGradient) => Evaluator.Evaluate(theta, relativeGradient);
}
