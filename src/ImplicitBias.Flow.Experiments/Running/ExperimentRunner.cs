using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Outputs;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Discrete;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Kernels;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Solvers;

namespace ImplicitBias.Flow.Experiments.Running;

/// <summary>What one run (one optimizer, one seed) ended with.</summary>
/// <param name="Directory">Its output folder.</param>
/// <param name="Label">Optimizer label.</param>
/// <param name="Seed">Initialization seed.</param>
/// <param name="Status">target-reached, max-time, max-steps, failed or interrupted.</param>
/// <param name="Message">A human sentence.</param>
/// <param name="FinalTime">Flow time at the end.</param>
/// <param name="FinalLogLoss">log L at the end.</param>
/// <param name="Table">The observations.</param>
/// <param name="WallSeconds">Wall-clock seconds.</param>
public sealed record RunOutcome(string Directory, string Label, ulong Seed, string Status, string Message, double FinalTime, double FinalLogLoss, TrajectoryTable Table, double WallSeconds);

/// <summary>
/// Runs an experiment: every optimizer × every seed, each integrated (or stepped, for Solver:Method =
/// discrete) until the target loss, the time limit or the step limit, observed at the saved times, and
/// written to its own folder (config.json, trajectory.csv, summary.json, θ snapshots as .npy, plots).
/// </summary>
public sealed class ExperimentRunner
{
    private readonly ExperimentSettings _settings;
    private readonly string _root;
    private readonly TextWriter _log;
    private readonly bool? _interactive;

    /// <summary>Creates a runner writing into <paramref name="outputDirectory"/>.</summary>
    public ExperimentRunner(ExperimentSettings settings, string outputDirectory, TextWriter log, bool? interactive = null)
    {
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _root = outputDirectory ?? throw new ArgumentNullException(nameof(outputDirectory));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _interactive = interactive;
    }

    /// <summary>The status word of an engine result (summary.json's <c>status</c>).</summary>
    public static string StatusWord(OdeStatus status) => status switch
    {
        OdeStatus.EventReached => "target-reached",
        OdeStatus.Success => "max-time",
        OdeStatus.MaxStepsReached => "max-steps",
        OdeStatus.Cancelled => "interrupted",
        _ => "failed",
    };

    /// <summary>Runs everything; stops cleanly (writing what was computed) when <paramref name="cancellation"/> fires.</summary>
    public IReadOnlyList<RunOutcome> Run(CancellationToken cancellation = default)
    {
        Directory.CreateDirectory(_root);
        foreach (string w in _settings.Warnings)
        {
            _log.WriteLine($"warning: {w}");
        }

        Dataset data = ExperimentBuilder.Data(_settings);
        Loss loss = ExperimentBuilder.Loss(_settings);
        FullyConnectedNetwork network = ExperimentBuilder.Network(_settings.Model, data.Dimension);
        bool manyOptimizers = _settings.Optimizers.Count > 1, manySeeds = _settings.Seeds.Count > 1;
        var outcomes = new List<RunOutcome>();
        foreach (OptimizerSettings optimizer in _settings.Optimizers)
        {
            foreach (ulong seed in _settings.Seeds)
            {
                string dir = _root;
                if (manyOptimizers)
                {
                    dir = Path.Combine(dir, Safe(optimizer.Label));
                }

                if (manySeeds)
                {
                    dir = Path.Combine(dir, $"seed{seed}");
                }

                Directory.CreateDirectory(dir);
                outcomes.Add(RunOne(data, loss, network, optimizer, seed, dir, cancellation));
                if (cancellation.IsCancellationRequested)
                {
                    break;
                }
            }

            if (cancellation.IsCancellationRequested)
            {
                break;
            }
        }

        if (_settings.Outputs.Plots && (manyOptimizers || manySeeds))
        {
            RunPlots.Write(Path.Combine(_root, "plots"), outcomes.Select(o => new PlottedRun(o.Label, CsvTable.Read(Path.Combine(o.Directory, "trajectory.csv")))).ToArray());
        }

        return outcomes;
    }

    private RunOutcome RunOne(Dataset data, Loss loss, FullyConnectedNetwork network, OptimizerSettings optimizer, ulong seed, string dir, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        string label = _settings.Seeds.Count > 1 ? $"{optimizer.Label} seed {seed}" : optimizer.Label;
        IReadOnlyList<OptimizerPart> parts = ExperimentBuilder.Parts(optimizer, network);
        var observerEvaluator = new LossEvaluator(network, data, loss);
        double[] theta0 = ExperimentBuilder.InitialTheta(_settings, network, seed, observerEvaluator);
        using GradientBackend backend = ExperimentBuilder.Backend(_settings, network, data, loss);

        // On the ILGPU backends (cuda, ilgpu-cpu) the whole solve stays in device memory; the observers see host
        // copies at the save times only. The managed CPU backend solves on the host.
        DeviceFlowSolver? device = DeviceFlowSolver.For(backend);
        var tolerances = new FlowTolerances(_settings.Solver.RelTol, _settings.Solver.AbsTol, _settings.Solver.BlockScale);
        var flow = new OptimizerFlow(backend.Oracle, parts, optimizer.Power, optimizer.TimeOffset, tolerances);
        if (_settings.Outputs.Npy)
        {
            Npy.WriteFile(Path.Combine(dir, "theta_initial.npy"), theta0);
        }

        JsonOutput.Write(Path.Combine(dir, "config.json"), ResolvedConfig.ToJson(_settings, optimizer, seed));
        var progress = new ProgressReporter(_log, label, _interactive);
        HashSet<double> snapshots = _settings.Save.Snapshots.ToHashSet();

        void Snapshot(double t, ReadOnlySpan<double> theta)
        {
            if (_settings.Outputs.Npy && snapshots.Contains(t))
            {
                Npy.WriteFile(Path.Combine(dir, $"theta_t{t.ToString("G6", CultureInfo.InvariantCulture)}.npy"), theta);
            }
        }

        (string status, string message, double finalTime, double[] finalTheta, TrajectoryTable table, PostRunSummary summary, long evaluations, long accepted, long rejected, string method) result =
            _settings.Solver.Method == "discrete"
                ? RunDiscrete(flow, backend.Oracle, observerEvaluator, parts, optimizer, theta0, progress, Snapshot, cancellation)
                : RunFlow(flow, device, observerEvaluator, theta0, progress, Snapshot, cancellation);

        if (_settings.Outputs.Npy)
        {
            Npy.WriteFile(Path.Combine(dir, "theta_final.npy"), result.finalTheta);
        }

        TrajectoryTable tableOut = result.table;
        var csv = new CsvTableWriter();
        foreach (string column in tableOut.Columns)
        {
            csv.AddColumn(column, tableOut.Column(column));
        }

        csv.Write(Path.Combine(dir, "trajectory.csv"));
        double wall = clock.Elapsed.TotalSeconds;
        JsonOutput.Write(Path.Combine(dir, "summary.json"), Summary(result.status, result.message, optimizer, seed, backend, device is not null && result.method != "discrete", result.method, tableOut, result.summary, result.evaluations, result.accepted, result.rejected, wall));
        if (_settings.Outputs.Plots)
        {
            RunPlots.Write(Path.Combine(dir, "plots"), [new PlottedRun(optimizer.Label, CsvTable.Read(Path.Combine(dir, "trajectory.csv")))]);
        }

        progress.Finish(new ProgressSample(result.finalTime, tableOut.Last("logLoss"), tableOut.Last("stepSize"), result.accepted, result.rejected, result.evaluations), $"{result.status} — {result.message} Outputs in {dir}");
        return new RunOutcome(dir, optimizer.Label, seed, result.status, result.message, result.finalTime, tableOut.Last("logLoss"), tableOut, wall);
    }

    private (string, string, double, double[], TrajectoryTable, PostRunSummary, long, long, long, string) RunFlow(
        OptimizerFlow flow, DeviceFlowSolver? device, LossEvaluator observerEvaluator, double[] theta0, ProgressReporter progress, Action<double, ReadOnlySpan<double>> snapshot, CancellationToken cancellation)
    {
        string method = _settings.Solver.Method == "auto" ? FlowSolver.DefaultMethod(flow).Name : _settings.Solver.Method;
        var options = new FlowSolveOptions
        {
            Method = method,
            TargetLogLoss = _settings.Stop.TargetLogLoss,
            MaxTime = _settings.Stop.MaxTime,
            MaxSteps = _settings.Stop.MaxSteps,
            SaveAt = SaveTimes(),
            Cancellation = cancellation,
            Engine = device,
            OnStep = info =>
            {
                if (info.Accepted)
                {
                    progress.Report(new ProgressSample(info.Time, device?.LastLogLoss ?? flow.LastLogLoss, info.StepSize, info.AcceptedSteps, info.RejectedSteps, info.RhsEvaluations));
                }
            },
            OnSave = (t, y) => snapshot(t, flow.Theta(y)),
        };
        ObservedRun run = ObservedFlow.Run(flow, observerEvaluator, theta0, options);
        OdeResult r = run.Result;
        double[] finalTheta = flow.Theta(r.FinalState).ToArray();
        return (StatusWord(r.Status), r.Message, r.FinalTime, finalTheta, run.Table, run.Summary, r.RhsEvaluations, r.AcceptedSteps, r.RejectedSteps, method);
    }

    private (string, string, double, double[], TrajectoryTable, PostRunSummary, long, long, long, string) RunDiscrete(
        OptimizerFlow flow, IGradientOracle oracle, LossEvaluator observerEvaluator, IReadOnlyList<OptimizerPart> parts, OptimizerSettings optimizer, double[] theta0,
        ProgressReporter progress, Action<double, ReadOnlySpan<double>> snapshot, CancellationToken cancellation)
    {
        double h = _settings.Solver.Step;
        var discrete = new DiscreteOptimizer(oracle, parts, optimizer.Power, optimizer.TimeOffset, theta0, h);
        var observer = new TrajectoryObserver(flow, observerEvaluator, ObservedFlow.OwnNorm(flow), theta0);
        long maxSteps = Math.Min(_settings.Stop.MaxSteps, (long)Math.Min(long.MaxValue / 2, Math.Floor(_settings.Stop.MaxTime / h)));
        SortedSet<long> saveSteps = SaveSteps(maxSteps, h);
        var y = new double[flow.Layout.Length];
        string status = "max-steps", message = $"Took the maximum of {maxSteps} steps.";

        void Observe()
        {
            // The flow's state at t_n = n h: θ_n, σ = log L(θ_n), and the moments scaled as the flow scales them.
            discrete.Theta.CopyTo(y);
            y[flow.Parameters.Length] = discrete.LogLoss;
            flow.SetPlainScales(y); // the discrete moments are copied as m e^{−σ} and v e^{−2σ}
            for (int p = 0; p < parts.Count; p++)
            {
                if (flow.MomentumBlock(p) >= 0)
                {
                    discrete.CopyScaledMomentum(p, y.AsSpan(flow.Layout.Offset(flow.MomentumBlock(p)), flow.Layout.Blocks[flow.MomentumBlock(p)].Length));
                }

                if (flow.SecondMomentBlock(p) >= 0)
                {
                    discrete.CopyScaledSecondMoment(p, y.AsSpan(flow.Layout.Offset(flow.SecondMomentBlock(p)), flow.Layout.Blocks[flow.SecondMomentBlock(p)].Length));
                }
            }

            observer.Observe(discrete.Time, y, new SolverCounters(h, discrete.StepNumber, 0, discrete.GradientEvaluations));
            snapshot(discrete.Time, discrete.Theta);
        }

        Observe();
        while (discrete.StepNumber < maxSteps)
        {
            if (cancellation.IsCancellationRequested)
            {
                status = "interrupted";
                message = $"Interrupted at step {discrete.StepNumber}.";
                break;
            }

            discrete.Step();
            bool done = discrete.LogLoss <= _settings.Stop.TargetLogLoss;
            if (!double.IsFinite(discrete.LogLoss))
            {
                status = "failed";
                message = $"log L is not finite at step {discrete.StepNumber}.";
                Observe();
                break;
            }

            if (done || saveSteps.Contains(discrete.StepNumber) || discrete.StepNumber == maxSteps)
            {
                Observe();
            }

            progress.Report(new ProgressSample(discrete.Time, discrete.LogLoss, h, discrete.StepNumber, 0, discrete.GradientEvaluations));
            if (done)
            {
                status = "target-reached";
                message = $"log L reached {_settings.Stop.TargetLogLoss} at step {discrete.StepNumber} (t = {discrete.Time}).";
                break;
            }
        }

        PostRunSummary summary = observer.Finish();
        return (status, message, discrete.Time, discrete.Theta.ToArray(), observer.Table, summary, discrete.GradientEvaluations, discrete.StepNumber, 0, "discrete");
    }

    private Solvers.SaveAt SaveTimes()
    {
        IEnumerable<double> times = _settings.Save.Times.Count > 0
            ? _settings.Save.Times
            : FlowSolver.LogSpacedTimes(_settings.Stop.MaxTime, _settings.Save.PointsPerDecade).RequestedTimes;
        double[] all = times.Append(0).Concat(_settings.Save.Snapshots).Where(t => t <= _settings.Stop.MaxTime).Distinct().Order().ToArray();
        return Solvers.SaveAt.Times(all);
    }

    private SortedSet<long> SaveSteps(long maxSteps, double h)
    {
        var steps = new SortedSet<long>();
        foreach (double t in SaveTimes().RequestedTimes)
        {
            long n = (long)Math.Round(t / h);
            if (n > 0 && n <= maxSteps)
            {
                steps.Add(n);
            }
        }

        return steps;
    }

    private JsonObject Summary(string status, string message, OptimizerSettings optimizer, ulong seed, GradientBackend backend, bool stateOnDevice, string method, TrajectoryTable table, PostRunSummary post, long evaluations, long accepted, long rejected, double wall)
    {
        JsonObject Norms(string prefix) => new()
        {
            ["l2"] = JsonOutput.Number(table.Last($"{prefix}_l2")),
            ["linf"] = JsonOutput.Number(table.Last($"{prefix}_linf")),
            ["msp"] = table.Has($"{prefix}_msp") ? JsonOutput.Number(table.Last($"{prefix}_msp")) : null,
            ["own"] = JsonOutput.Number(table.Last($"{prefix}_own")),
        };

        return new JsonObject
        {
            ["status"] = status,
            ["message"] = message,
            ["experiment"] = _settings.Name,
            ["optimizer"] = optimizer.Label,
            ["seed"] = seed,
            ["method"] = method,
            ["backend"] = new JsonObject { ["name"] = backend.Name, ["device"] = backend.DeviceName, ["state"] = stateOnDevice ? "device" : "host" },
            ["final"] = new JsonObject
            {
                ["t"] = JsonOutput.Number(table.Last("t")),
                ["logLoss"] = JsonOutput.Number(table.Last("logLoss")),
                ["etaIntegral"] = JsonOutput.Number(table.Last("etaIntegral")),
                ["margins"] = Norms("hardMargin"),
                ["softMargins"] = Norms("softMargin"),
                ["alignment"] = Norms("alignment"),
                ["normOverEtaIntegral"] = Norms("normOverEtaIntegral"),
                ["secondHalfMinCosineToLast"] = JsonOutput.Number(post.SecondHalfMinCosine),
                ["softMarginMonotone"] = post.SoftMarginMonotone,
            },
            ["stats"] = new JsonObject
            {
                ["rhsEvaluations"] = evaluations,
                ["acceptedSteps"] = accepted,
                ["rejectedSteps"] = rejected,
            },
            ["wallSeconds"] = wall,
            ["warnings"] = new JsonArray(_settings.Warnings.Select(w => (JsonNode?)w).ToArray()),
            ["versions"] = new JsonObject
            {
                ["ibflow"] = typeof(ExperimentRunner).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown",
                ["dotnet"] = RuntimeInformation.FrameworkDescription,
                ["os"] = RuntimeInformation.OSDescription,
            },
        };
    }

    private static string Safe(string label) => string.Concat(label.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
}
