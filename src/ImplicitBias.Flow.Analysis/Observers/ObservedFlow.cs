using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Core.Geometry;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Solvers;

namespace ImplicitBias.Flow.Analysis.Observers;

/// <summary>A solved flow together with what was observed along it.</summary>
/// <param name="Result">The engine's result (status, final state, statistics).</param>
/// <param name="Trajectory">One observation per saved time.</param>
/// <param name="Summary">Post-run conclusions.</param>
/// <param name="Observer">The observer (snapshots of θ at the saved times).</param>
public sealed record ObservedRun(OdeResult Result, Trajectory Trajectory, PostRunSummary Summary, TrajectoryObserver Observer);

/// <summary>Integrates a flow and observes it at every saved time (and at the end).</summary>
public static class ObservedFlow
{
    /// <summary>
    /// The optimizer's own norm (docs/mathematics.md §2; Theorems 3.6, 3.7): the norm whose steepest direction the
    /// flow follows, as its definition states (<see cref="OptimizerDefinition.OwnNorm"/>). One part: ℓ2 (GD, NGD, momentum), ℓ∞ (sign, Adam) or msp (spectral, Muon). A per-block
    /// composite: max_p r_p ‖θ_p‖_(p) over its parts, each part in its own geometry's norm (msp over a polar part's
    /// matrices), with r_p = η0 of the last part / η0 of part p — Muon-Adam's max{(η0ᴬ/η0ᴹ)‖W‖msp, ‖u‖∞} (Theorem 3.7)
    /// and Muon-Signum's max{‖W‖msp, ‖u‖∞}, and the same rule for any composite (say NGD on the matrices and SignGD
    /// on the output row: max{r ‖W‖₂, ‖u‖∞}).
    /// </summary>
    public static Norm OwnNorm(OptimizerFlow flow)
    {
        ArgumentNullException.ThrowIfNull(flow);
        IReadOnlyList<OptimizerPart> parts = flow.Parts;
        if (parts.Count == 1)
        {
            return PartNorm(flow.Parameters, parts[0]);
        }

        ParameterLayout layout = flow.Parameters;
        double[] partWeights = parts.Select(p => parts[^1].Eta0 / p.Eta0).ToArray();

        // When every part's norm is a max over its blocks (spectral per matrix, ℓ∞, or ℓ2 of a one-block part), the
        // composite is a weighted max over the layout's blocks: Muon-Adam's norm exactly as Theorem 3.7 writes it,
        // in the form the KKT certificate handles block by block.
        if (parts.All(p => p.Definition.OwnNorm is OwnNormKind.Msp or OwnNormKind.LInf || p.BlockCount == 1))
        {
            var blockNorms = new Norm[layout.Blocks.Count];
            var blockWeights = new double[layout.Blocks.Count];
            for (int i = 0; i < parts.Count; i++)
            {
                for (int b = parts[i].FirstBlock; b < parts[i].FirstBlock + parts[i].BlockCount; b++)
                {
                    ParameterBlock block = layout.Blocks[b];
                    blockNorms[b] = parts[i].Definition.OwnNorm switch
                    {
                        OwnNormKind.Msp => new SpectralNorm(block.Rows, block.Cols),
                        OwnNormKind.LInf => Norms.LInf,
                        _ => Norms.L2,
                    };
                    blockWeights[b] = partWeights[i];
                }
            }

            return new BlockMaxNorm(layout, blockNorms, blockWeights, string.Join("+", parts.Select(p => p.Name)));
        }

        // Otherwise (an ℓ2 part over several matrices is not a max over them) the parts are the blocks of an outer
        // max norm, each part's norm acting on its own slice of θ.
        var partsLayout = new ParameterLayout(parts.Select((p, i) => new ParameterBlock($"part{i}:{p.Name}", 1, p.Length(layout), IsMatrix: false)));
        Norm[] norms = parts.Select(p => PartNorm(new ParameterLayout(layout.Blocks.Skip(p.FirstBlock).Take(p.BlockCount)), p)).ToArray();
        return new BlockMaxNorm(partsLayout, norms, partWeights, string.Join("+", parts.Select(p => p.Name)));
    }

    private static Norm PartNorm(ParameterLayout layout, OptimizerPart part) => part.Definition.OwnNorm switch
    {
        OwnNormKind.LInf => Norms.LInf,
        OwnNormKind.Msp => Norms.Msp(layout),
        _ => Norms.L2,
    };

    /// <summary>Solves <paramref name="flow"/> from θ(0) and observes it with a CPU evaluator of the same model.</summary>
    /// <param name="flow">The flow.</param>
    /// <param name="evaluator">A CPU evaluator of the same model and data, used only at saved times.</param>
    /// <param name="theta0">θ(0).</param>
    /// <param name="options">Solve options; OnSave and OnStep are chained with the observer's own.</param>
    /// <param name="observer">
    /// The observer to use (e.g. one restored from a checkpoint, with <paramref name="options"/> resuming the solve);
    /// null creates one in the optimizer's own norm.
    /// </param>
    public static ObservedRun Run(OptimizerFlow flow, LossEvaluator evaluator, ReadOnlySpan<double> theta0, FlowSolveOptions? options = null, TrajectoryObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(flow);
        options ??= new FlowSolveOptions();
        observer ??= new TrajectoryObserver(flow, evaluator, OwnNorm(flow), theta0);
        FlowSolveOptions chained = options with
        {
            KeepSavedStates = false,
            OnStep = info =>
            {
                if (info.Accepted)
                {
                    observer.LastStep = new SolverCounters(info.StepSize, info.AcceptedSteps, info.RejectedSteps, info.RhsEvaluations);
                }

                options.OnStep?.Invoke(info);
            },
            OnSave = (t, y) =>
            {
                observer.Observe(t, y, observer.LastStep);
                options.OnSave?.Invoke(t, y);
            },
        };
        OdeResult result = FlowSolver.Solve(flow, theta0, chained);

        // The end of the run (target reached, time limit, interruption) is always observed.
        if (result.FinalTime != observer.LastObservedTime && result.FinalState.Length > 0)
        {
            observer.Observe(result.FinalTime, result.FinalState, new SolverCounters(observer.LastStep.StepSize, result.AcceptedSteps, result.RejectedSteps, result.RhsEvaluations));
        }

        PostRunSummary summary = observer.Finish();
        return new ObservedRun(result, observer.Trajectory, summary, observer);
    }
}
