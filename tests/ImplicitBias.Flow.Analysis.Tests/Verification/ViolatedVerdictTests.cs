using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Analysis.Verification;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Analysis.Tests.Verification;

/// <summary>
/// A run outside Lemma C.10's assumption ∫η = ∞ must be reported "violated". NGD on the scalar linear model f = θ x
/// with one sample x = y = 1 moves θ at unit speed towards +∞: θ(t) = θ0 + ∫η. With η = 0.8 (t + 1)^{−2}, ∫η → 0.8,
/// and from θ0 = −1 the ratio |θ|/∫η = |−1 + ∫η|/∫η = 1/∫η − 1 falls towards 0.25 while its distance to the
/// predicted 1, 2 − 1/∫η, grows: not within tolerance, and moving away (positive trend).
/// </summary>
public class ViolatedVerdictTests
{
    [Fact]
    public void Ngd_WithAnIntegrableSchedule_LemmaC10IsViolated()
    {
        var data = new Dataset([1.0], [1.0], 1);
        var network = new FullyConnectedNetwork(1, [], Activation.Identity);
        var oracle = new ModelOracle(new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1));
        var flow = new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec("ngd", 0.8), network.Layout), power: 2, tolerances: new FlowTolerances(1e-10, 1e-12));
        var evaluator = new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1);
        const double end = 1e4;
        ObservedRun run = ObservedFlow.Run(flow, evaluator, [-1.0], new FlowSolveOptions { TargetLogLoss = -100, MaxTime = end });
        Assert.Equal(Solvers.OdeStatus.Success, run.Result.Status);

        // The observer's column against the closed form at the end.
        double integral = 0.8 * (1 - (1 / (end + 1)));
        double ratio = run.Trajectory.Last!.Own.NormOverEtaIntegral;
        Assert.Equal((1 / integral) - 1, ratio, 1e-7);

        IReadOnlyList<PredictionRow> rows = PredictionChecks.Evaluate(run, flow, evaluator);
        PredictionRow row = rows.Single(r => r.Quantity == "normOverEtaIntegral_own");
        Assert.True(row.Trend > 0, $"trend {row.Trend}");
        Assert.Equal(Verdict.Violated, row.Verdict);
    }
}
