using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Kernels;
using ImplicitBias.Flow.Models.Evaluation;

namespace ImplicitBias.Flow.Experiments.Running;

/// <summary>
/// One optimizer × seed of an experiment set up for a solve — settings → model → θ(0) → parts → gradient backend →
/// flow → engine — written once for every verb that runs a flow or its discrete optimizer (run, compare, verify,
/// diagnose, work-precision). Dispose to release the backend.
/// </summary>
/// <remarks>
/// On the ILGPU backends the engine keeps the state in device memory (<see cref="DeviceFlowSolver"/>; a definition's own
/// direction makes one host round trip of its part per evaluation); on the managed CPU backend there is no engine and
/// the solve runs on the host.
/// </remarks>
public sealed class FlowSession : IDisposable
{
    private FlowSession(ExperimentSettings settings, ExperimentModel model, OptimizerSettings optimizer, ulong seed, FlowTolerances? tolerances, bool serial)
    {
        Settings = settings;
        Model = model;
        Optimizer = optimizer;
        Seed = seed;
        Serial = serial;
        Parts = ExperimentBuilder.Parts(optimizer, model.Network);
        Evaluator = NewEvaluator();
        Theta0 = ExperimentBuilder.InitialTheta(settings, model.Network, seed, Evaluator);
        Tolerances = tolerances ?? new FlowTolerances(settings.Solver.RelTol, settings.Solver.AbsTol, settings.Solver.BlockScale);
        Backend = ExperimentBuilder.Backend(settings, model.Network, model.Data, model.Loss);
        try
        {
            // The loader admits the rank for ngd on cpu or auto only; auto may still have chosen a device backend.
            if (settings.Solver.JacobianModelRank > 0 && Backend.Oracle is not ModelOracle)
            {
                throw new ExperimentException(settings.SourceFile, "Solver:JacobianModelRank", settings.Solver.JacobianModelRank.ToString(System.Globalization.CultureInfo.InvariantCulture), $"the Jacobian model runs on the cpu backend only, and Solver:Backend = {settings.Solver.Backend} chose another here; set Solver:Backend = cpu or use 0");
            }

            Flow = new OptimizerFlow(Backend.Oracle, Parts, optimizer.Power, optimizer.TimeOffset, Tolerances) { JacobianModelRank = settings.Solver.JacobianModelRank };

            Engine = DeviceFlowSolver.For(Backend);
        }
        catch
        {
            Backend.Dispose();
            throw;
        }
    }

    /// <summary>The experiment.</summary>
    public ExperimentSettings Settings { get; }

    /// <summary>Its data, loss and network.</summary>
    public ExperimentModel Model { get; }

    /// <summary>The optimizer section.</summary>
    public OptimizerSettings Optimizer { get; }

    /// <summary>The seed of θ(0).</summary>
    public ulong Seed { get; }

    /// <summary>True when the CPU evaluators are serial (bit-reproducible margins for comparisons).</summary>
    public bool Serial { get; }

    /// <summary>The optimizer parts.</summary>
    public IReadOnlyList<OptimizerPart> Parts { get; }

    /// <summary>A CPU evaluator of the model (θ(0)'s checks, then the observers at saved states).</summary>
    public LossEvaluator Evaluator { get; }

    /// <summary>θ(0) of <see cref="Seed"/>.</summary>
    public double[] Theta0 { get; }

    /// <summary>The gradient backend (Solver:Backend).</summary>
    public GradientBackend Backend { get; }

    /// <summary>The tolerances of <see cref="Flow"/>.</summary>
    public FlowTolerances Tolerances { get; }

    /// <summary>The flow over the backend's gradients.</summary>
    public OptimizerFlow Flow { get; }

    /// <summary>The device engine, or null for a solve on the host.</summary>
    public DeviceFlowSolver? Engine { get; }

    /// <summary>Sets up one optimizer × seed; mistakes in the experiment throw <see cref="ExperimentException"/>, an optimizer
    /// that does not fit the model an <see cref="ArgumentException"/>.</summary>
    /// <param name="settings">The experiment.</param>
    /// <param name="model">Its model, built once for all its runs (null: built here).</param>
    /// <param name="optimizer">One of its optimizer sections.</param>
    /// <param name="seed">The seed of θ(0).</param>
    /// <param name="tolerances">The flow's tolerances (default: Solver:RelTol, AbsTol, BlockScale).</param>
    /// <param name="serial">Serial CPU evaluators.</param>
    public static FlowSession Open(ExperimentSettings settings, ExperimentModel? model, OptimizerSettings optimizer, ulong seed, FlowTolerances? tolerances = null, bool serial = false)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(optimizer);
        return new FlowSession(settings, model ?? new ExperimentModel(settings), optimizer, seed, tolerances, serial);
    }

    /// <summary>
    /// The experiment's first optimizer and first seed, for the verbs that study one flow (diagnose, work-precision: they
    /// solve on the host whatever Solver:Backend, with the backend's gradients, and leave <see cref="Engine"/> unused).
    /// </summary>
    /// <param name="settings">The experiment.</param>
    /// <param name="tolerances">The flow's tolerances (default: Solver:RelTol, AbsTol, BlockScale).</param>
    public static FlowSession OpenFirst(ExperimentSettings settings, FlowTolerances? tolerances = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return Open(settings, null, settings.Optimizers[0], settings.Seeds[0], tolerances);
    }

    /// <summary>Another flow over the same gradients with other tolerances (the oracle is not thread-safe: solve one at a time).</summary>
    public OptimizerFlow NewFlow(FlowTolerances tolerances) => new(Backend.Oracle, Parts, Optimizer.Power, Optimizer.TimeOffset, tolerances) { JacobianModelRank = Flow.JacobianModelRank };

    /// <summary>The stepper Solver:Method names for <see cref="Flow"/> (auto: <see cref="FlowSolver.DefaultMethod"/>).</summary>
    public string MethodName(string method) => method == "auto" ? FlowSolver.DefaultMethod(Flow).Name : method;

    /// <summary>Another CPU evaluator of the model (serial when <see cref="Serial"/>).</summary>
    public LossEvaluator NewEvaluator() => new(Model.Network, Model.Data, Model.Loss, Serial ? 1 : -1);

    /// <inheritdoc />
    public void Dispose() => Backend.Dispose();
}
