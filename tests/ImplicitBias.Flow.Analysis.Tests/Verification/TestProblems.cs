using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Analysis.Tests.Verification;

/// <summary>A flow, the CPU evaluator of its model, and the observed run.</summary>
internal sealed record ObservedProblem(OptimizerFlow Flow, LossEvaluator Evaluator, double[] Theta0, ObservedRun Run);

/// <summary>Small problems the verification tests run to a target loss.</summary>
internal static class TestProblems
{
    /// <summary>
    /// SyntheticData.Gaussian (default m = 32, d = 5, seed 1), a two-layer squared-ReLU network (default width 10, L = 3),
    /// exponential loss, Kaiming init × <paramref name="initScale"/> (seed 2), η(t) = η0 (t + 1)^{−0.8}; <paramref name="c1"/>
    /// and <paramref name="c2"/> are the moment rates; <paramref name="method"/> the stepper ("auto": the default).
    /// </summary>
    public static ObservedProblem Synthetic(string optimizer, double eta0, double targetLogLoss, double maxTime = 1e12, double c2 = 0.0010005003335835335, int samples = 32, int dimension = 5, int width = 10, double c1 = 0.10536051565782628, double initScale = 0.5, string method = "auto", double relTol = 1e-8)
    {
        Dataset data = SyntheticData.Gaussian(samples, dimension, 1);
        var network = new FullyConnectedNetwork(dimension, [width], Activation.ReluPower(2));
        double[] theta0 = Initialization.KaimingNormal(network.Layout, 2, initScale);
        return Observe(network, data, theta0, new OptimizerSpec(optimizer, eta0, C1: c1, C2: c2), 0.8, targetLogLoss, maxTime, method, relTol);
    }

    /// <summary>A linear predictor (D = 1) on samples with labels +1 (rows of <paramref name="x"/> are y_i x_i).</summary>
    public static ObservedProblem Linear(double[] x, string optimizer, double eta0, double targetLogLoss)
    {
        var data = new Dataset(x, Enumerable.Repeat(1.0, x.Length / 2).ToArray(), 2);
        var network = new FullyConnectedNetwork(2, [], Activation.Identity);
        return Observe(network, data, [0.3, -0.2], new OptimizerSpec(optimizer, eta0, SignWidth: 1e-4), 0.5, targetLogLoss, 1e12, "auto", 1e-8);
    }

    private static ObservedProblem Observe(FullyConnectedNetwork network, Dataset data, double[] theta0, OptimizerSpec spec, double power, double targetLogLoss, double maxTime, string method, double relTol)
    {
        var oracle = new ModelOracle(new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1));
        var flow = new OptimizerFlow(oracle, OptimizerCatalog.Parts(spec, network.Layout), power, tolerances: new FlowTolerances(relTol, relTol / 100));
        var evaluator = new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1);
        ObservedRun run = ObservedFlow.Run(flow, evaluator, theta0, new FlowSolveOptions { TargetLogLoss = targetLogLoss, MaxTime = maxTime, Method = method });
        return new ObservedProblem(flow, evaluator, theta0, run);
    }
}
