using BenchmarkDotNet.Attributes;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Benchmarks;

/// <summary>
/// The cost of the trajectory observer (its budget: at most 10 % at the default save density, 20 saves per decade
/// of t): the same flow solved bare (the solver still interpolates every save time, the callback does nothing)
/// and observed (<see cref="ObservedFlow.Run"/>). Two-layer squared-ReLU networks on Gaussian data, exponential
/// loss, one evaluator thread, η(t) = η0 (t + 1)^{−0.8}; the observer's overhead is Observed / Bare − 1.
/// Run: <c>dotnet run -c Release --project src/ImplicitBias.Flow.Benchmarks -- --filter '*ObserverBenchmarks*' --job short</c>.
/// </summary>
public class ObserverBenchmarks
{
    private OptimizerFlow _flow = null!;
    private LossEvaluator _evaluator = null!;
    private double[] _theta0 = null!;
    private FlowSolveOptions _options = null!;

    /// <summary>optimizer/m/d/width/target log L.</summary>
    [Params("ngd/256/10/50/-1000", "ngd/512/110/70/-1000", "signum/256/10/50/-300")]
    public string Problem { get; set; } = "ngd/256/10/50/-1000";

    /// <summary>Builds the problem.</summary>
    [GlobalSetup]
    public void Setup()
    {
        string[] p = Problem.Split('/');
        int m = int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture);
        int d = int.Parse(p[2], System.Globalization.CultureInfo.InvariantCulture);
        int width = int.Parse(p[3], System.Globalization.CultureInfo.InvariantCulture);
        double target = double.Parse(p[4], System.Globalization.CultureInfo.InvariantCulture);
        Dataset data = SyntheticData.Gaussian(m, d, 1);
        var network = new FullyConnectedNetwork(d, [width], Activation.ReluPower(2));
        _theta0 = Initialization.KaimingNormal(network.Layout, 2, 0.5);
        _evaluator = new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1);
        var oracle = new ModelOracle(new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1));
        _flow = new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec(p[0], 1.0), network.Layout), 0.8);
        _options = new FlowSolveOptions { TargetLogLoss = target, KeepSavedStates = false, OnSave = static (_, _) => { } };
    }

    /// <summary>The flow alone, saves interpolated but not observed.</summary>
    [Benchmark(Baseline = true)]
    public double Bare() => FlowSolver.Solve(_flow, _theta0, _options).FinalTime;

    /// <summary>The flow with every save observed (margins, alignments, ratios, patterns, snapshots).</summary>
    [Benchmark]
    public double Observed() => ObservedFlow.Run(_flow, _evaluator, _theta0, _options with { OnSave = null }).Result.FinalTime;
}
