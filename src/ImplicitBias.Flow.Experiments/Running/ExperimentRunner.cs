using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using ImplicitBias.Flow.Analysis.Diagnostics;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Core.State;
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
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Experiments.Running;

/// <summary>What one run (one optimizer, one seed) ended with.</summary>
/// <param name="Directory">Its output folder.</param>
/// <param name="Label">Optimizer label.</param>
/// <param name="Seed">Initialization seed.</param>
/// <param name="Status">target-reached, max-time, max-steps, failed or interrupted.</param>
/// <param name="Message">A human sentence.</param>
/// <param name="FinalTime">Flow time at the end.</param>
/// <param name="FinalLogLoss">log L at the end.</param>
/// <param name="Trajectory">The observations.</param>
/// <param name="WallSeconds">Wall-clock seconds.</param>
public sealed record RunOutcome(string Directory, string Label, ulong Seed, string Status, string Message, double FinalTime, double FinalLogLoss, Trajectory Trajectory, double WallSeconds);

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

    /// <summary>Called with the run folder after each checkpoint is written (progress displays, tests).</summary>
    public Action<string>? CheckpointWritten { get; init; }

    /// <summary>
    /// Where the plots' one plotly.min.js goes (default: the output folder's plots/). A sweep points every grid point
    /// at its own root, so that hundreds of run folders share one 3.6 MB script instead of holding one each.
    /// </summary>
    public string? ScriptDirectory { get; init; }

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

        // Every run's folder, config.json and a "pending" summary.json exist before the first solve, so that a run
        // killed at any moment leaves folders that `--resume` completes and that nothing reads as finished.
        List<PlannedRun> plan = Plan();
        foreach (PlannedRun p in plan)
        {
            Directory.CreateDirectory(p.Directory);
            JsonOutput.Write(Path.Combine(p.Directory, "config.json"), ResolvedConfig.ToJson(_settings, p.Optimizer, p.Seed));
            WriteUnfinishedSummary(p.Directory, "pending", "not started yet");
        }

        var outcomes = new List<RunOutcome>();
        var built = new ExperimentModel(_settings);
        foreach (PlannedRun p in plan)
        {
            outcomes.Add(RunOne(_settings, built, p, resume: false, cancellation));
            if (cancellation.IsCancellationRequested)
            {
                break;
            }
        }

        WriteCombinedPlots(outcomes, plan.Count > 1);
        return outcomes;
    }

    /// <summary>
    /// Continues the runs under <paramref name="root"/> (a run folder, or the folder of an experiment with several
    /// runs): finished runs are kept as they are, unfinished ones continue from their checkpoint (bit for bit as if
    /// never stopped) or start again when they have none. Each run is read back from its own config.json.
    /// </summary>
    /// <param name="root">A run folder or an experiment's folder.</param>
    /// <param name="log">Progress lines.</param>
    /// <param name="interactive">Whether progress redraws one line (null: when the console is a terminal).</param>
    /// <param name="scriptDirectory">Where the plots' plotly.min.js goes (see <see cref="ScriptDirectory"/>).</param>
    /// <param name="cancellation">Stops cleanly, writing a checkpoint.</param>
    public static IReadOnlyList<RunOutcome> Resume(string root, TextWriter log, bool? interactive = null, string? scriptDirectory = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(log);
        IReadOnlyList<string> runs = RunFolders(root);
        if (runs.Count == 0)
        {
            throw new ExperimentException(root, "--resume", root, "no run folder (with a config.json) there");
        }

        var outcomes = new List<RunOutcome>();
        foreach (string dir in runs)
        {
            string config = Path.Combine(dir, "config.json");
            ExperimentSettings settings = ExperimentLoader.Load(config, useEnvironment: false);
            OptimizerSettings optimizer = settings.Optimizers[0];
            ulong seed = settings.Seeds[0];
            var runner = new ExperimentRunner(settings, root, log, interactive) { ScriptDirectory = scriptDirectory };
            var planned = new PlannedRun(optimizer, seed, dir, $"{optimizer.Label} ({Path.GetRelativePath(root, dir)})");
            if (ReadStatus(dir) is { } status && IsFinished(status))
            {
                log.WriteLine($"{planned.Label}: already {status}, kept.");
                outcomes.Add(FinishedOutcome(dir, planned, status));
                continue;
            }

            outcomes.Add(runner.RunOne(settings, new ExperimentModel(settings), planned, resume: true, cancellation));
            if (cancellation.IsCancellationRequested)
            {
                break;
            }
        }

        if (outcomes.Count > 1 && !File.Exists(Path.Combine(root, "config.json")) && outcomes.All(o => File.Exists(Path.Combine(o.Directory, "trajectory.csv"))))
        {
            ExperimentSettings first = ExperimentLoader.Load(Path.Combine(runs[0], "config.json"), useEnvironment: false);
            new ExperimentRunner(first, root, log, interactive).WriteCombinedPlots(outcomes, true);
        }

        return outcomes;
    }

    /// <summary>Whether a summary status means the run ended (as opposed to pending, running or interrupted).</summary>
    public static bool IsFinished(string status) => status is "target-reached" or "max-time" or "max-steps" or "failed";

    /// <summary>The run folders under <paramref name="root"/>: itself when it holds config.json, else its sub-folders (two levels) that do.</summary>
    public static IReadOnlyList<string> RunFolders(string root)
    {
        ArgumentNullException.ThrowIfNull(root);
        if (!Directory.Exists(root))
        {
            return [];
        }

        if (File.Exists(Path.Combine(root, "config.json")))
        {
            return [root];
        }

        var found = new List<string>();
        foreach (string sub in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            if (File.Exists(Path.Combine(sub, "config.json")))
            {
                found.Add(sub);
                continue;
            }

            found.AddRange(Directory.GetDirectories(sub).Order(StringComparer.Ordinal).Where(d => File.Exists(Path.Combine(d, "config.json"))));
        }

        return found;
    }

    private static string? ReadStatus(string dir)
    {
        string path = Path.Combine(dir, "summary.json");
        try
        {
            return File.Exists(path) ? JsonOutput.Read(path)["status"]?.GetValue<string>() : null;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException or InvalidOperationException)
        {
            return null;
        }
    }

    private static RunOutcome FinishedOutcome(string dir, PlannedRun p, string status)
    {
        JsonNode summary = JsonOutput.Read(Path.Combine(dir, "summary.json"));
        Trajectory trajectory = TrajectoryFormat.ReadCsv(Path.Combine(dir, "trajectory.csv"));
        return new RunOutcome(dir, p.Optimizer.Label, p.Seed, status, summary["message"]?.GetValue<string>() ?? string.Empty,
            trajectory.Last?.Time ?? double.NaN, trajectory.Last?.LogLoss ?? double.NaN, trajectory, summary["wallSeconds"]?.GetValue<double>() ?? double.NaN);
    }

    private void WriteCombinedPlots(IReadOnlyList<RunOutcome> outcomes, bool many)
    {
        if (_settings.Outputs.Plots && many)
        {
            // One line (or one mean-and-band over seeds) per optimizer entry: runs are grouped by the entry's folder.
            RunPlots.Write(Path.Combine(_root, "plots"), outcomes.Where(o => File.Exists(Path.Combine(o.Directory, "trajectory.csv")))
                .Select(o => new PlottedRun(Label(o), TrajectoryFormat.ReadCsv(Path.Combine(o.Directory, "trajectory.csv"))) { Folder = o.Directory }).ToArray(), new RunPlotOptions { ScriptDirectory = SharedScripts, Title = _settings.Name });
        }

        string Label(RunOutcome o)
        {
            string first = Path.GetRelativePath(_root, o.Directory).Split(Path.DirectorySeparatorChar)[0];
            return first == "." || first.StartsWith("seed", StringComparison.Ordinal) ? o.Label : first;
        }
    }

    /// <summary>One run of the experiment: an optimizer entry, a seed, its folder and its label.</summary>
    private sealed record PlannedRun(OptimizerSettings Optimizer, ulong Seed, string Directory, string Label);

    private List<PlannedRun> Plan()
    {
        bool manyOptimizers = _settings.Optimizers.Count > 1, manySeeds = _settings.Seeds.Count > 1;
        IReadOnlyList<string> folders = OptimizerFolders(_settings.Optimizers);
        var plan = new List<PlannedRun>();
        for (int k = 0; k < _settings.Optimizers.Count; k++)
        {
            OptimizerSettings optimizer = _settings.Optimizers[k];
            foreach (ulong seed in _settings.Seeds)
            {
                string dir = _root;
                if (manyOptimizers)
                {
                    dir = Path.Combine(dir, folders[k]);
                }

                if (manySeeds)
                {
                    dir = Path.Combine(dir, $"seed{seed}");
                }

                plan.Add(new PlannedRun(optimizer, seed, dir, manySeeds ? $"{optimizer.Label} seed {seed}" : optimizer.Label));
            }
        }

        return plan;
    }

    /// <summary>Lanczos steps of Save:Sharpness (as `ibflow diagnose` uses by default).</summary>
    internal const int SharpnessLanczosSteps = 20;

    // summary.json lists this many of the coordinates that rejected the most steps.
    private const int TopRejectedCoordinates = 10;

    /// <summary>What a flow or discrete run ended with, before it is written.</summary>
    private sealed record RunResult(
        string Status,
        string EngineMessage,
        double FinalTime,
        double[] FinalTheta,
        Trajectory Trajectory,
        PostRunSummary Summary,
        long Evaluations,
        long Accepted,
        long Rejected,
        string Method,
        LogLossDrift? Drift,
        double PriorWallSeconds,
        string? MethodNote = null,
        IReadOnlyList<KeyValuePair<string, long>>? RejectedByBlock = null,
        IReadOnlyList<KeyValuePair<string, long>>? RejectedByCoordinate = null,
        IReadOnlyList<KeyValuePair<string, StateBlock>>? Tolerances = null);

    /// <summary>
    /// The layout's block names for summary.json: a composite with the same optimizer on two parameter blocks has two
    /// blocks of one name, the second is "name#2", and so on.
    /// </summary>
    private static string[] BlockNames(StateLayout layout)
    {
        var seen = new Dictionary<string, int>();
        return layout.Blocks.Select(b =>
        {
            int n = seen[b.Name] = seen.GetValueOrDefault(b.Name) + 1;
            return n == 1 ? b.Name : string.Create(CultureInfo.InvariantCulture, $"{b.Name}#{n}");
        }).ToArray();
    }

    /// <summary>The tolerances each block was judged by (a flow may tighten θ's, OptimizerDefinition.ThetaAbsTolFactor).</summary>
    private static KeyValuePair<string, StateBlock>[] TolerancesByBlock(StateLayout layout) =>
        BlockNames(layout).Zip(layout.Blocks, KeyValuePair.Create).ToArray();

    /// <summary>
    /// The rejections with a finite error estimate by the state block with the largest share of the error norm
    /// (θ, σ, m̃, ṽ, their log scales), named as the layout names them; null for fixed steps. A composite with the
    /// same optimizer on two parameter blocks has two blocks of one name: the second is "name#2", and so on.
    /// </summary>
    private static KeyValuePair<string, long>[]? RejectionsByBlock(StateLayout layout, OdeResult r) =>
        r.RejectedByBlock.Length != layout.BlockCount ? null : BlockNames(layout).Zip(r.RejectedByBlock, KeyValuePair.Create).ToArray();

    /// <summary>The <see cref="TopRejectedCoordinates"/> coordinates charged with the most rejections, most first, by name.</summary>
    private static KeyValuePair<string, long>[]? RejectionsByCoordinate(OptimizerFlow flow, OdeResult r)
    {
        if (r.RejectedByBlock.Length != flow.Layout.BlockCount)
        {
            return null;
        }

        Func<int, string> name = FlowJacobianSpectrum.StateCoordinateNamer(flow);
        return r.RejectedByCoordinate.OrderByDescending(p => p.Value).ThenBy(p => p.Key).Take(TopRejectedCoordinates)
            .Select(p => KeyValuePair.Create(name(p.Key), p.Value)).ToArray();
    }

    private static void WriteUnfinishedSummary(string dir, string status, string message) =>
        JsonOutput.Write(Path.Combine(dir, "summary.json"), new JsonObject
        {
            ["status"] = status,
            ["message"] = message,
            ["finished"] = false,
        });

    // One copy of plotly.js for the whole experiment (3.6 MB), in its top plots folder; every run's pages load it.
    private string SharedScripts => ScriptDirectory ?? Path.Combine(_root, "plots");

    private RunOutcome RunOne(ExperimentSettings settings, ExperimentModel built, PlannedRun planned, bool resume, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        string dir = planned.Directory;
        OptimizerSettings optimizer = planned.Optimizer;
        ulong seed = planned.Seed;
        // On the ILGPU backends (cuda, ilgpu-cpu) the whole solve stays in device memory (session.Engine); the observers
        // see host copies at the save times only.
        using FlowSession session = FlowSession.Open(settings, built, optimizer, seed);
        LossEvaluator observerEvaluator = session.Evaluator;
        double[] theta0 = session.Theta0;
        GradientBackend backend = session.Backend;
        OptimizerFlow flow = session.Flow;
        DeviceFlowSolver? device = session.Engine;
        if (settings.Outputs.Npy && !(resume && File.Exists(Path.Combine(dir, "theta_initial.npy"))))
        {
            Npy.WriteFile(Path.Combine(dir, "theta_initial.npy"), theta0);
        }

        if (!resume)
        {
            JsonOutput.Write(Path.Combine(dir, "config.json"), ResolvedConfig.ToJson(settings, optimizer, seed));
        }
        else
        {
            // A process killed while writing leaves its temporary file (never the target) behind: remove those.
            foreach (string stale in Directory.EnumerateFiles(dir, ".*.tmp"))
            {
                File.Delete(stale);
            }
        }

        WriteUnfinishedSummary(dir, "running", $"started {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC and not finished: `ibflow run --resume {dir}` continues it");
        var progress = new ProgressReporter(_log, planned.Label, _interactive);
        HashSet<double> snapshots = settings.Save.Snapshots.ToHashSet();

        void Snapshot(double t, ReadOnlySpan<double> theta)
        {
            if (settings.Outputs.Npy && snapshots.Contains(t))
            {
                Npy.WriteFile(Path.Combine(dir, $"theta_t{t.ToString("G6", CultureInfo.InvariantCulture)}.npy"), theta);
            }
        }

        RunResult result = settings.Solver.Method == "discrete"
            ? RunDiscrete(settings, flow, observerEvaluator, theta0, dir, resume, clock, progress, Snapshot, cancellation)
            : RunFlow(settings, flow, device, observerEvaluator, theta0, dir, resume, clock, progress, Snapshot, cancellation);

        if (settings.Outputs.Npy)
        {
            Npy.WriteFile(Path.Combine(dir, "theta_final.npy"), result.FinalTheta);
        }

        Trajectory trajectory = result.Trajectory;
        TrajectoryFormat.WriteCsv(trajectory, Path.Combine(dir, "trajectory.csv"));

        // The status is checked against log L(θ) computed by the model at the end (the observer's last row), never
        // against the integrated σ: a run that claims the target must have reached it.
        double finalLogLoss = trajectory.Last?.LogLoss ?? double.NaN;
        string status = result.Status;
        if (status == "target-reached" && !ReachedTarget(finalLogLoss, settings.Stop.TargetLogLoss))
        {
            status = "failed";
        }

        string message = Message(status, result, finalLogLoss, settings);
        if (result.Drift is { OffFlowWindows: > 0 } leftFlow)
        {
            // A status is never taken on trust: steps that passed their error test but left the flow are said here too.
            message += $" The steps left the flow in {leftFlow.OffFlowWindows} of {leftFlow.Windows} windows, the tolerances were tightened to {leftFlow.ToleranceScale:g2} of theirs (see warnings).";
        }

        double wall = result.PriorWallSeconds + clock.Elapsed.TotalSeconds;
        JsonOutput.Write(Path.Combine(dir, "summary.json"), Summary(settings, status, message, optimizer, seed, backend, device is not null && result.Method != "discrete", result, trajectory.Last, wall));
        if (status != "interrupted")
        {
            File.Delete(Path.Combine(dir, RunCheckpoint.FileName));
        }

        if (settings.Outputs.Plots)
        {
            RunPlots.Write(Path.Combine(dir, "plots"), [new PlottedRun(optimizer.Label, TrajectoryFormat.ReadCsv(Path.Combine(dir, "trajectory.csv"))) { Folder = dir }], new RunPlotOptions { ScriptDirectory = SharedScripts, Title = $"{settings.Name}: {planned.Label}" });
        }

        progress.Finish(new ProgressSample(result.FinalTime, finalLogLoss, trajectory.Last?.Counters.StepSize ?? double.NaN, result.Accepted, result.Rejected, result.Evaluations), $"{status} — {message} Outputs in {dir}");
        if (result.Drift?.OffFlowWarning() is { } offFlow)
        {
            _log.WriteLine($"warning: {planned.Label}: {offFlow}");
        }

        return new RunOutcome(dir, optimizer.Label, seed, status, message, result.FinalTime, finalLogLoss, trajectory, wall);
    }

    /// <summary>
    /// Rounding allowed when the model's log L at the end is checked against the target, relative to max(1, |target|):
    /// the event is located on one evaluation of log L and checked on another (the observer's, or on a device a second
    /// evaluation whose atomic sums round differently), so a crossing located to the last bits may read a few ulps
    /// above the target there. 1e-12 is some 4,500 ulps: room for any summation order, far below any loss a user sets.
    /// </summary>
    public const double TargetRoundingSlack = 1e-12;

    /// <summary>
    /// Whether <paramref name="logLoss"/>, the model's log L at the end of a run, has reached <paramref name="target"/>
    /// (to <see cref="TargetRoundingSlack"/>); false for NaN. A run is reported target-reached only when this holds.
    /// </summary>
    public static bool ReachedTarget(double logLoss, double target) =>
        logLoss <= target + (TargetRoundingSlack * Math.Max(1.0, Math.Abs(target)));

    /// <summary>How a run ended, in the user's words (terminal and summary.json's <c>message</c>).</summary>
    private static string Message(string status, RunResult r, double finalLogLoss, ExperimentSettings settings)
    {
        string t = r.FinalTime.ToString("G6", CultureInfo.InvariantCulture);
        string logLoss = finalLogLoss.ToString("G6", CultureInfo.InvariantCulture);
        string target = settings.Stop.TargetLogLoss.ToString("G6", CultureInfo.InvariantCulture);
        return status switch
        {
            "target-reached" => r.FinalTime == 0
                ? $"log L = {logLoss} already met the target {target} at t = 0."
                : $"Reached log L = {logLoss} (target {target}) at t = {t}.",
            "max-time" => $"Stopped at MaxTime t = {t} with log L = {logLoss}, above the target {target}.",
            "max-steps" => $"Stopped after MaxSteps = {settings.Stop.MaxSteps} steps at t = {t} with log L = {logLoss} (target {target}).",
            "interrupted" => $"Interrupted at t = {t} with log L = {logLoss}; the checkpoint is kept: `ibflow run --resume DIR` continues.",
            _ when r.Status == "target-reached" => $"Failed: the integrated log L crossed the target {target} at t = {t} but the model's log L there is {logLoss}.",
            _ => $"Failed at t = {t} (log L = {logLoss}): {r.EngineMessage}",
        };
    }

    private RunResult RunFlow(
        ExperimentSettings settings, OptimizerFlow flow, DeviceFlowSolver? device, LossEvaluator observerEvaluator, double[] theta0, string dir, bool resume, Stopwatch clock,
        ProgressReporter progress, Action<double, ReadOnlySpan<double>> snapshot, CancellationToken cancellation)
    {
        string method = settings.Solver.Method == "auto" ? FlowSolver.DefaultMethod(flow).Name : settings.Solver.Method;
        var observer = new TrajectoryObserver(flow, observerEvaluator, ObservedFlow.OwnNorm(flow), theta0) { SharpnessDimension = settings.Save.Sharpness ? SharpnessLanczosSteps : 0 };
        RunCheckpoint.Contents? restored = resume ? ReadCheckpoint(dir, observer, flow.Drift) : null;
        double prior = restored?.WallSeconds ?? 0;
        FlowSolveOptions options = RunOptions(settings, dir, observer, flow, restored, clock, cancellation) with
        {
            Method = method,
            FixedStep = settings.Solver.Step,
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
        ObservedRun run = ObservedFlow.Run(flow, observerEvaluator, theta0, options, observer);
        OdeResult r = run.Result;
        double[] finalTheta = flow.Theta(r.FinalState).ToArray();
        return new RunResult(StatusWord(r.Status), r.Message, r.FinalTime, finalTheta, run.Trajectory, run.Summary, r.RhsEvaluations, r.AcceptedSteps, r.RejectedSteps, method, flow.Drift, prior, r.StepperNote, RejectionsByBlock(flow.Layout, r), RejectionsByCoordinate(flow, r), TolerancesByBlock(flow.Layout));
    }

    /// <summary>
    /// The discrete optimizer with h = Solver:Step, run by the engine's fixed-step loop (<see cref="DiscreteSolver"/>): the
    /// target, the step and time limits, saves at the grid times nearest the requested ones, the non-finite status,
    /// cancellation and checkpoints (resumed bit for bit, as a flow's) are the engine's. Each save is observed with the
    /// counters of the step that reached it.
    /// </summary>
    private RunResult RunDiscrete(
        ExperimentSettings settings, OptimizerFlow flow, LossEvaluator observerEvaluator, double[] theta0, string dir, bool resume, Stopwatch clock,
        ProgressReporter progress, Action<double, ReadOnlySpan<double>> snapshot, CancellationToken cancellation)
    {
        double h = settings.Solver.Step;
        var map = new DiscreteFlowMap(flow, h);
        var start = new double[flow.Layout.Length];
        map.InitialState(theta0, start);
        var observer = new TrajectoryObserver(flow, observerEvaluator, ObservedFlow.OwnNorm(flow), theta0) { SharpnessDimension = settings.Save.Sharpness ? SharpnessLanczosSteps : 0 };
        RunCheckpoint.Contents? restored = resume ? ReadCheckpoint(dir, observer, flow.Drift) : null;

        void Observe(double t, double[] y, long accepted, long evaluations)
        {
            observer.Observe(t, y, new SolverCounters(h, accepted, 0, evaluations));
            snapshot(t, flow.Theta(y));
        }

        // The engine saves a step's end before it reports the step, so a save waits for its step's counters (none waits
        // at a checkpoint, which the engine takes between two steps).
        (double Time, double[] State)? pending = null;
        double prior = restored?.WallSeconds ?? 0;
        FlowSolveOptions options = RunOptions(settings, dir, observer, flow, restored, clock, cancellation) with
        {
            KeepSavedStates = false,
            OnSave = (t, y) =>
            {
                if (t == 0)
                {
                    Observe(t, y, 0, map.GradientEvaluations);
                }
                else
                {
                    pending = (t, y);
                }
            },
            OnStep = info =>
            {
                if (!info.Accepted)
                {
                    return;
                }

                if (pending is { } p && p.Time == info.Time)
                {
                    Observe(p.Time, p.State, info.AcceptedSteps, info.RhsEvaluations);
                    pending = null;
                }

                progress.Report(new ProgressSample(info.Time, map.LastLogLoss, h, info.AcceptedSteps, 0, info.RhsEvaluations));
            },
        };
        OdeResult r = DiscreteSolver.Solve(map, 0.0, start, options, plainScales: true);

        // The end of the run (target, limits, the last finite state, interruption) is always observed.
        if (r.FinalTime != observer.LastObservedTime && r.FinalState.Length > 0)
        {
            Observe(r.FinalTime, r.FinalState, r.AcceptedSteps, r.RhsEvaluations);
        }

        PostRunSummary summary = observer.Finish();
        return new RunResult(StatusWord(r.Status), r.Message, r.FinalTime, flow.Theta(r.FinalState).ToArray(), observer.Trajectory, summary, r.RhsEvaluations, r.AcceptedSteps, r.RejectedSteps, DiscreteMap.MethodName, null, prior);
    }

    /// <summary>
    /// What a flow and a discrete run share: the stop settings, the save times, cancellation, and the checkpoints (resumed
    /// from <paramref name="restored"/>, written every Checkpoint:Seconds with the observer and the wall time so far).
    /// </summary>
    private FlowSolveOptions RunOptions(
        ExperimentSettings settings, string dir, TrajectoryObserver observer, OptimizerFlow flow, RunCheckpoint.Contents? restored, Stopwatch clock, CancellationToken cancellation)
    {
        double prior = restored?.WallSeconds ?? 0;
        var sinceCheckpoint = Stopwatch.StartNew();
        return new FlowSolveOptions
        {
            TargetLogLoss = settings.Stop.TargetLogLoss,
            MaxTime = settings.Stop.MaxTime,
            MaxSteps = settings.Stop.MaxSteps,
            SaveAt = SaveTimes(settings),
            Cancellation = cancellation,
            ResumeFrom = restored?.Engine,
            CheckpointDue = () => sinceCheckpoint.Elapsed.TotalSeconds >= settings.Checkpoint.Seconds,
            Checkpoint = c =>
            {
                RunCheckpoint.Write(dir, c, observer, flow.Drift, prior + clock.Elapsed.TotalSeconds);
                sinceCheckpoint.Restart();
                CheckpointWritten?.Invoke(dir);
            },
        };
    }

    /// <summary>The checkpoint of a run being resumed (null: none, start again), the observer restored from it.</summary>
    private RunCheckpoint.Contents? ReadCheckpoint(string dir, TrajectoryObserver observer, LogLossDrift drift)
    {
        RunCheckpoint.Contents? restored;
        try
        {
            restored = RunCheckpoint.Read(dir, observer, drift);
        }
        catch (InvalidDataException e)
        {
            throw new ExperimentException(Path.Combine(dir, RunCheckpoint.FileName), "--resume", dir, $"the checkpoint cannot be read ({e.Message}); delete it to start the run again");
        }

        _log.WriteLine(restored is null ? $"{dir}: no checkpoint, starting again." : $"{dir}: resuming at t = {restored.Engine.Time:G6}.");
        return restored;
    }

    private static Solvers.SaveAt SaveTimes(ExperimentSettings settings)
    {
        IEnumerable<double> times = settings.Save.Times.Count > 0
            ? settings.Save.Times
            : FlowSolver.LogSpacedTimes(settings.Stop.MaxTime, settings.Save.PointsPerDecade).RequestedTimes;
        double[] all = times.Append(0).Concat(settings.Save.Snapshots).Where(t => t <= settings.Stop.MaxTime).Distinct().Order().ToArray();
        return Solvers.SaveAt.Times(all);
    }

    private static JsonObject Summary(ExperimentSettings settings, string status, string message, OptimizerSettings optimizer, ulong seed, GradientBackend backend, bool stateOnDevice, RunResult result, Observation? final, double wall)
    {
        PostRunSummary post = result.Summary;
        string method = result.Method;

        // The final per-norm values, keyed by the norms' column suffixes (msp null for a one-block model).
        JsonObject Norms(Func<NormObservation, double> value) => new()
        {
            [TrajectoryFormat.Suffix(ObservedNorm.L2)] = JsonOutput.Number(final?.In(ObservedNorm.L2) is { } l2 ? value(l2) : double.NaN),
            [TrajectoryFormat.Suffix(ObservedNorm.LInf)] = JsonOutput.Number(final?.In(ObservedNorm.LInf) is { } linf ? value(linf) : double.NaN),
            [TrajectoryFormat.Suffix(ObservedNorm.Msp)] = final?.In(ObservedNorm.Msp) is { } msp ? JsonOutput.Number(value(msp)) : null,
            [TrajectoryFormat.Suffix(ObservedNorm.Own)] = JsonOutput.Number(final?.In(ObservedNorm.Own) is { } own ? value(own) : double.NaN),
        };

        return new JsonObject
        {
            ["status"] = status,
            ["message"] = message,
            ["finished"] = status != "interrupted",
            ["experiment"] = settings.Name,
            ["optimizer"] = optimizer.Label,
            ["seed"] = seed,
            ["method"] = method,
            ["methodNote"] = result.MethodNote,
            ["tolerances"] = result.Tolerances is not { } tolerances ? null : new JsonObject(tolerances.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)new JsonObject
            {
                ["rtol"] = JsonOutput.Number(p.Value.RelTol),
                ["atol"] = JsonOutput.Number(p.Value.AbsTol),
                ["blockScale"] = JsonOutput.Number(p.Value.ScaledAbsTol),
            }))),
            ["backend"] = new JsonObject { ["name"] = backend.Name, ["device"] = backend.DeviceName, ["state"] = stateOnDevice ? "device" : "host" },
            ["final"] = new JsonObject
            {
                ["t"] = JsonOutput.Number(final?.Time ?? double.NaN),
                ["logLoss"] = JsonOutput.Number(final?.LogLoss ?? double.NaN),
                ["etaIntegral"] = JsonOutput.Number(final?.EtaIntegral ?? double.NaN),
                ["margins"] = Norms(n => n.HardMargin),
                ["softMargins"] = Norms(n => n.SoftMargin),
                ["alignment"] = Norms(n => n.Alignment),
                ["normOverEtaIntegral"] = Norms(n => n.NormOverEtaIntegral),
                ["secondHalfMinCosineToLast"] = JsonOutput.Number(post.SecondHalfMinCosine),
                ["softMarginMonotone"] = post.SoftMarginMonotone,
            },
            ["stats"] = new JsonObject
            {
                ["rhsEvaluations"] = result.Evaluations,
                ["acceptedSteps"] = result.Accepted,
                ["rejectedSteps"] = result.Rejected,
                ["rejectedByBlock"] = result.RejectedByBlock is not { } byBlock ? null : new JsonObject(byBlock.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
                ["rejectedByCoordinate"] = result.RejectedByCoordinate is not { } byCoordinate ? null : new JsonArray(byCoordinate.Select(p => (JsonNode?)new JsonObject { ["coordinate"] = p.Key, ["count"] = p.Value }).ToArray()),
            },
            ["logLossDrift"] = result.Drift is not { } drift ? null : new JsonObject
            {
                ["maxAbsolute"] = JsonOutput.Number(drift.MaxAbsolute),
                ["anchoredSteps"] = drift.Anchors,
                ["unconfirmedCrossings"] = drift.UnconfirmedCrossings,
                ["exactLogLossEvaluations"] = drift.ExactEvaluations,
                ["accumulated"] = JsonOutput.Number(drift.Accumulated),
                ["startLogLoss"] = JsonOutput.Number(drift.StartLogLoss),
                ["windows"] = drift.Windows,
                ["offFlowWindows"] = drift.OffFlowWindows,
                ["firstOffFlowTime"] = JsonOutput.Number(drift.FirstOffFlowTime),
                ["worstWindowShare"] = JsonOutput.Number(drift.WorstWindowShare),
                ["toleranceScale"] = JsonOutput.Number(drift.ToleranceScale),
            },
            ["wallSeconds"] = wall,
            ["warnings"] = new JsonArray(settings.Warnings.Append(result.Drift?.OffFlowWarning()).OfType<string>().Select(w => (JsonNode?)w).ToArray()),
            ["versions"] = new JsonObject
            {
                ["ibflow"] = typeof(ExperimentRunner).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown",
                ["dotnet"] = RuntimeInformation.FrameworkDescription,
                ["os"] = RuntimeInformation.OSDescription,
            },
        };
    }

    /// <summary>
    /// One folder name per optimizer entry: its label made safe for a path, with -2, -3, … on repeats, so that two
    /// entries of the same optimizer (say with two η0) never write into the same folder.
    /// </summary>
    public static IReadOnlyList<string> OptimizerFolders(IReadOnlyList<OptimizerSettings> optimizers)
    {
        ArgumentNullException.ThrowIfNull(optimizers);
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var names = new List<string>(optimizers.Count);
        foreach (OptimizerSettings optimizer in optimizers)
        {
            string name = Safe(optimizer.Label);
            string unique = name;
            for (int i = 2; !used.Add(unique); i++)
            {
                unique = $"{name}-{i}";
            }

            names.Add(unique);
        }

        return names;
    }

    private static string Safe(string label) => string.Concat(label.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
}
