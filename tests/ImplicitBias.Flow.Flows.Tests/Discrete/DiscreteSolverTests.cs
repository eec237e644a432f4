using ImplicitBias.Flow.Flows.Discrete;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Solvers;

namespace ImplicitBias.Flow.Flows.Tests.Discrete;

/// <summary>The discrete optimizer run by the engine's loop (DiscreteMap, DiscreteSolver, FlowSolver with Method = discrete).</summary>
public class DiscreteSolverTests
{
    private static readonly double C09 = -Math.Log(0.9);
    private static readonly double C0999 = -Math.Log(0.999);

    private static double[] RandomTheta(int length, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => rng.NextDouble() - 0.5).ToArray();
    }

    private static (SmallNetworkOracle Oracle, IReadOnlyList<OptimizerPart> Parts, double[] Theta0) Problem(string name, double eta0)
    {
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(10, 3, 4, seed: 7);
        var spec = new OptimizerSpec(name, eta0, C1: C09, C2: C0999, Epsilon: 1e-8, MuonEta0: eta0, AdamEta0: eta0 / 2);
        return (oracle, OptimizerCatalog.Parts(spec, oracle.Layout), RandomTheta(oracle.Layout.Length, 3));
    }

    [Theory]
    [InlineData("adam", 0.5)]
    [InlineData("signum", 0.7)]
    [InlineData("momentum", 1.0)]
    [InlineData("muon-adam", 0.25)]
    public void RunUntil_IsTheLoopOfSteps_BitForBit(string name, double h)
    {
        (SmallNetworkOracle oracle, IReadOnlyList<OptimizerPart> parts, double[] theta0) = Problem(name, 0.05);
        var stepped = new DiscreteOptimizer(oracle, parts, 0.8, 1.0, theta0, h);
        var solved = new DiscreteOptimizer(oracle, parts, 0.8, 1.0, theta0, h);
        var seen = new List<long>();
        for (int n = 0; n < 30; n++)
        {
            stepped.Step();
        }

        // In two pieces: the second solve starts where the first stopped, without a new gradient evaluation.
        Assert.Equal(DiscreteStopReason.MaxSteps, solved.RunUntil(12, double.NegativeInfinity, o => seen.Add(o.StepNumber)));
        Assert.Equal(DiscreteStopReason.MaxSteps, solved.RunUntil(30, double.NegativeInfinity));
        Assert.Equal(Enumerable.Range(0, 13).Select(i => (long)i), seen);
        Assert.Equal(30, solved.StepNumber);
        Assert.Equal(stepped.State.ToArray(), solved.State.ToArray());
        Assert.Equal(stepped.RelativeGradient.ToArray(), solved.RelativeGradient.ToArray());
        Assert.Equal(31, solved.GradientEvaluations);
        Assert.Equal(stepped.GradientEvaluations, solved.GradientEvaluations);
    }

    [Fact]
    public void FlowSolverDiscrete_StopsAtTheFirstIterateAtTheTarget_WithTheMomentsInTheFlowsScaling()
    {
        (SmallNetworkOracle oracle, IReadOnlyList<OptimizerPart> parts, double[] theta0) = Problem("adam", 0.1);
        const double h = 0.5;
        var reference = new DiscreteOptimizer(oracle, parts, 0.8, 1.0, theta0, h);
        double start = reference.LogLoss;
        double target = start - 0.8;
        while (reference.LogLoss > target && reference.StepNumber < 5000)
        {
            reference.Step();
        }

        Assert.True(reference.LogLoss <= target, $"log L went from {start} to {reference.LogLoss} only");
        Assert.InRange(reference.StepNumber, 3, 5000);
        var unbounded = new DiscreteOptimizer(oracle, parts, 0.8, 1.0, theta0, h);
        Assert.Equal(DiscreteStopReason.TargetReached, unbounded.RunUntil(long.MaxValue, target));
        Assert.Equal(reference.StepNumber, unbounded.StepNumber);
        var flow = new OptimizerFlow(oracle, parts, 0.8, 1.0);
        OdeResult result = FlowSolver.Solve(flow, theta0, new FlowSolveOptions
        {
            Method = "discrete",
            FixedStep = h,
            TargetLogLoss = target,
            SaveAt = SaveAt.Times(0, 1.0, 1.2),
        });
        Assert.Equal(OdeStatus.EventReached, result.Status);
        Assert.Equal(reference.StepNumber * h, result.FinalTime);
        Assert.Equal(reference.Theta.ToArray(), flow.Theta(result.FinalState).ToArray());
        Assert.Equal(reference.LogLoss, flow.LogLoss(result.FinalState));

        // Save times are moved to the grid (1.2 → 1.0, saved once); the states carry m/L and v/L², λ_m = σ, λ_v = 2σ.
        Assert.Equal([0.0, 1.0], result.SavedTimes);
        int length = flow.PartLength(0);
        var scaled = new double[length];
        reference.CopyScaledMomentum(0, scaled);
        Assert.Equal(scaled, result.FinalState.AsSpan(flow.Layout.Offset(flow.MomentumBlock(0)), length).ToArray());
        reference.CopyScaledSecondMoment(0, scaled);
        Assert.Equal(scaled, result.FinalState.AsSpan(flow.Layout.Offset(flow.SecondMomentBlock(0)), length).ToArray());
        Assert.Equal(reference.LogLoss, flow.MomentumLogScale(0, result.FinalState));
        Assert.Equal(2 * reference.LogLoss, flow.SecondMomentLogScale(0, result.FinalState));

        // A target already met at θ_0 ends the run there, as the flow's.
        OdeResult atStart = FlowSolver.Solve(flow, theta0, new FlowSolveOptions { Method = "discrete", FixedStep = h, TargetLogLoss = start + 1 });
        Assert.Equal(OdeStatus.EventReached, atStart.Status);
        Assert.Equal(0.0, atStart.FinalTime);
    }

    [Fact]
    public void Limits_MaxTimeEndsAtTheLastGridPoint_MaxStepsWinsATie()
    {
        (SmallNetworkOracle oracle, IReadOnlyList<OptimizerPart> parts, double[] theta0) = Problem("ngd", 0.01);
        var flow = new OptimizerFlow(oracle, parts, 0.8, 1.0);
        FlowSolveOptions Options(double maxTime, long maxSteps) => new() { Method = "discrete", FixedStep = 0.5, MaxTime = maxTime, MaxSteps = maxSteps, TargetLogLoss = double.MinValue };

        OdeResult byTime = FlowSolver.Solve(flow, theta0, Options(2.3, 100));
        Assert.Equal(OdeStatus.Success, byTime.Status);
        Assert.Equal(2.0, byTime.FinalTime);
        Assert.Equal(4, byTime.AcceptedSteps);

        OdeResult tie = FlowSolver.Solve(flow, theta0, Options(2.0, 4));
        Assert.Equal(OdeStatus.MaxStepsReached, tie.Status);
        Assert.Equal(2.0, tie.FinalTime);
        Assert.Equal(tie.FinalState, byTime.FinalState);

        OdeResult bySteps = FlowSolver.Solve(flow, theta0, Options(100, 3));
        Assert.Equal(OdeStatus.MaxStepsReached, bySteps.Status);
        Assert.Equal(1.5, bySteps.FinalTime);
    }

    [Fact]
    public void CheckpointThenResume_IsBitIdenticalToAnUninterruptedRun()
    {
        (SmallNetworkOracle oracle, IReadOnlyList<OptimizerPart> parts, double[] theta0) = Problem("adam", 0.05);
        var flow = new OptimizerFlow(oracle, parts, 0.8, 1.0);
        FlowSolveOptions Options(Func<bool>? due = null, Action<OdeCheckpoint>? write = null, OdeCheckpoint? resume = null) => new()
        {
            Method = "discrete",
            FixedStep = 0.5,
            MaxSteps = 40,
            TargetLogLoss = double.MinValue,
            SaveAt = SaveAt.Times(0, 3, 7, 15),
            CheckpointDue = due,
            Checkpoint = write,
            ResumeFrom = resume,
        };
        OdeResult whole = FlowSolver.Solve(flow, theta0, Options());
        var checkpoints = new List<OdeCheckpoint>();
        int asked = 0;
        FlowSolver.Solve(flow, theta0, Options(() => ++asked % 9 == 0, checkpoints.Add));
        Assert.True(checkpoints.Count >= 3);
        foreach (OdeCheckpoint c in checkpoints)
        {
            OdeResult resumed = FlowSolver.Solve(flow, theta0, Options(resume: c));
            Assert.Equal(OdeStatus.MaxStepsReached, resumed.Status);
            Assert.Equal(whole.FinalState, resumed.FinalState);
            Assert.Equal(whole.RhsEvaluations, resumed.RhsEvaluations);
            int skipped = whole.SavedTimes.Count - resumed.SavedTimes.Count;
            for (int i = 0; i < resumed.SavedStates.Count; i++)
            {
                Assert.Equal(whole.SavedStates[skipped + i], resumed.SavedStates[i]);
            }
        }
    }
}
