using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Running;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Kernels;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Experiments.Diagnostics;

/// <summary>
/// The flow of an experiment's first optimizer and first seed, built as <c>ibflow run</c> builds it, for the verbs
/// that study one flow (diagnose, work-precision). The flow is solved on the host whatever Solver:Backend (the
/// backend still evaluates the gradients). Dispose to release the backend.
/// </summary>
public sealed class FlowSetup : IDisposable
{
    private readonly GradientBackend _backend;

    private FlowSetup(ExperimentSettings settings, FlowTolerances? tolerances)
    {
        Settings = settings;
        Optimizer = settings.Optimizers[0];
        Data = ExperimentBuilder.Data(settings);
        Network = ExperimentBuilder.Network(settings.Model, Data.Dimension);
        Loss = ExperimentBuilder.Loss(settings);
        Theta0 = ExperimentBuilder.InitialTheta(settings, Network, settings.Seeds[0]);
        Parts = ExperimentBuilder.Parts(Optimizer, Network);
        _backend = ExperimentBuilder.Backend(settings, Network, Data, Loss);
        Tolerances = tolerances ?? new FlowTolerances(settings.Solver.RelTol, settings.Solver.AbsTol, settings.Solver.BlockScale);
        Flow = NewFlow(Tolerances);
    }

    /// <summary>The experiment.</summary>
    public ExperimentSettings Settings { get; }

    /// <summary>Its first optimizer section.</summary>
    public OptimizerSettings Optimizer { get; }

    /// <summary>The dataset.</summary>
    public Dataset Data { get; }

    /// <summary>The network.</summary>
    public FullyConnectedNetwork Network { get; }

    /// <summary>The loss.</summary>
    public Loss Loss { get; }

    /// <summary>θ(0) of the first seed.</summary>
    public double[] Theta0 { get; }

    /// <summary>The optimizer parts.</summary>
    public IReadOnlyList<OptimizerPart> Parts { get; }

    /// <summary>The tolerances of <see cref="Flow"/>.</summary>
    public FlowTolerances Tolerances { get; }

    /// <summary>The flow at the experiment's tolerances (or those given).</summary>
    public OptimizerFlow Flow { get; }

    /// <summary>Builds the setup; mistakes in the experiment throw <see cref="ExperimentException"/>.</summary>
    /// <param name="settings">The experiment.</param>
    /// <param name="tolerances">Tolerances of the flow (default: Solver:RelTol, AbsTol, BlockScale).</param>
    public static FlowSetup Create(ExperimentSettings settings, FlowTolerances? tolerances = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new FlowSetup(settings, tolerances);
    }

    /// <summary>Another flow over the same oracle with other tolerances (the oracle is not thread-safe: solve one at a time).</summary>
    public OptimizerFlow NewFlow(FlowTolerances tolerances) => new(_backend.Oracle, Parts, Optimizer.Power, Optimizer.TimeOffset, tolerances);

    /// <summary>A CPU evaluator of the same model (margins at saved states).</summary>
    public LossEvaluator Evaluator() => new(Network, Data, Loss);

    /// <summary>The stepper Solver:Method names for this flow (auto: <see cref="FlowSolver.DefaultMethod"/>).</summary>
    public string MethodName(string method) => method == "auto" ? FlowSolver.DefaultMethod(Flow).Name : method;

    /// <inheritdoc />
    public void Dispose() => _backend.Dispose();
}
