using System.Diagnostics;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Analysis.Verification;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Running;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Solvers;

namespace ImplicitBias.Flow.Experiments.Verification;

/// <summary>The checks of one optimizer's run.</summary>
/// <param name="Label">The optimizer's label (e.g. "adam", "ngd@matrices+signgd@output").</param>
/// <param name="Family">The family whose predictions were checked.</param>
/// <param name="Run">The observed run.</param>
/// <param name="Rows">One row per prediction that applies.</param>
/// <param name="SolveSeconds">Wall-clock seconds of the solve.</param>
/// <param name="CheckSeconds">Wall-clock seconds of the checks (KKT included).</param>
public sealed record OptimizerVerification(string Label, OptimizerFamily Family, ObservedRun Run, IReadOnlyList<PredictionRow> Rows, double SolveSeconds, double CheckSeconds);

/// <summary>
/// <c>ibflow verify</c>'s work: the first seed of every optimizer of an experiment, solved with the observers
/// (<see cref="FlowSession"/>, as ibflow run sets it up), and the paper's predictions for its family checked
/// (<see cref="PredictionChecks"/>, docs/mathematics.md §6).
/// </summary>
public static class ExperimentVerification
{
    /// <summary>Above this many samples the KKT multipliers are restricted to near-minimum-margin samples by default.</summary>
    public const int KktFullSampleLimit = 256;

    /// <summary>The default margin slack for large problems: λ_i only for q_i(θ̃) ≤ 1.5.</summary>
    public const double LargeProblemKktSlack = 0.5;

    /// <summary>Runs and checks every optimizer of <paramref name="settings"/> (a flow method, not "discrete").</summary>
    /// <param name="settings">The experiment.</param>
    /// <param name="kkt">Whether to compute the KKT certificates.</param>
    /// <param name="kktSlack">KKT multipliers only for q_i(θ̃) ≤ 1 + slack (null: all samples up to
    /// <see cref="KktFullSampleLimit"/>, <see cref="LargeProblemKktSlack"/> above).</param>
    /// <exception cref="ExperimentException">A mistake in the experiment, or an optimizer that does not fit its model.</exception>
    public static IReadOnlyList<OptimizerVerification> Run(ExperimentSettings settings, bool kkt = true, double? kktSlack = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var model = new ExperimentModel(settings);
        var options = new VerifyOptions(
            Kkt: kkt,
            KktMarginSlack: kktSlack ?? (model.Data.Count > KktFullSampleLimit ? LargeProblemKktSlack : double.PositiveInfinity));
        ulong seed = settings.Seeds.Count > 0 ? settings.Seeds[0] : settings.Model.Seed;
        return settings.Optimizers.Select(o => RunOne(settings, model, o, seed, options)).ToArray();
    }

    private static OptimizerVerification RunOne(ExperimentSettings settings, ExperimentModel model, OptimizerSettings o, ulong seed, VerifyOptions options)
    {
        FlowSession session;
        try
        {
            session = FlowSession.Open(settings, model, o, seed);
        }
        catch (ArgumentException e)
        {
            throw new ExperimentException(settings.SourceFile, $"optimizer '{o.Label}': {e.Message}");
        }

        using (session)
        {
            SaveAt saveAt = settings.Save.Times.Count > 0
                ? SaveAt.Times(settings.Save.Times.ToArray())
                : FlowSolver.LogSpacedTimes(settings.Stop.MaxTime, settings.Save.PointsPerDecade);
            var solve = new FlowSolveOptions
            {
                Method = settings.Solver.Method,
                TargetLogLoss = settings.Stop.TargetLogLoss,
                MaxTime = settings.Stop.MaxTime,
                MaxSteps = settings.Stop.MaxSteps,
                SaveAt = saveAt,

                // On the ILGPU backends the state stays in device memory; the observers see host copies at the saves.
                Engine = session.Engine,
            };
            var clock = Stopwatch.StartNew();
            ObservedRun run = ObservedFlow.Run(session.Flow, session.Evaluator, session.Theta0, solve);
            double seconds = clock.Elapsed.TotalSeconds;
            IReadOnlyList<PredictionRow> rows = PredictionChecks.Evaluate(run, session.Flow, session.Evaluator, options);
            return new OptimizerVerification(o.Label, PredictionChecks.Family(session.Flow), run, rows, seconds, clock.Elapsed.TotalSeconds - seconds);
        }
    }
}
