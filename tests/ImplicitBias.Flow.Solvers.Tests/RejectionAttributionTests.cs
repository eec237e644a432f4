using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>
/// <see cref="OdeResult.RejectedByBlock"/> and <see cref="OdeResult.RejectedByCoordinate"/>: each rejected step is
/// charged to the block with the largest share of the error norm and to the coordinate with the largest scaled error,
/// so a researcher sees which part of the state (θ, σ, m̃, ṽ), and which parameter, holds the step.
/// </summary>
public class RejectionAttributionTests
{
    // Block "smooth": y' = −y. Block "front": z' = 1e3 (1 − tanh²(1e3 (t − 0.5))), a steep front at t = 0.5 that
    // forces the rejections; both blocks have the same tolerances.
    private static readonly HostRhs TwoBlocks = (t, y, f) =>
    {
        f[0] = -y[0];
        double s = Math.Tanh(1e3 * (t - 0.5));
        f[1] = 1e3 * (1 - (s * s));
    };

    private static StateLayout Layout() => new([new StateBlock("smooth", 1, 1e-8, 1e-10), new StateBlock("front", 1, 1e-8, 1e-10)]);

    private static OdeResult Solve(OdeMethod method, OdeOptions<HostState>? options = null) =>
        OdeSolver.Solve(new HostOdeTerm(TwoBlocks), new HostStateAlgebra(Layout()), method, 0, 1, new HostState([1.0, 0.0]), options);

    [Fact]
    public void Rejections_AreChargedToTheBlockThatCausesThem()
    {
        OdeResult r = Solve(new DormandPrince5());
        Assert.True(r.RejectedSteps >= 3, $"{r.RejectedSteps} rejections");
        Assert.Equal(2, r.RejectedByBlock.Length);
        Assert.Equal(r.RejectedSteps, r.RejectedByBlock.Sum());
        Assert.Equal(0, r.RejectedByBlock[0]);
        Assert.Equal(r.RejectedSteps, r.RejectedByBlock[1]);

        // And to the coordinate: the front is state index 1.
        Assert.Equal(r.RejectedSteps, Assert.Single(r.RejectedByCoordinate, p => p.Key == 1).Value);
        Assert.Single(r.RejectedByCoordinate);
    }

    [Fact]
    public void Coordinates_WithinABlock_AreTold()
    {
        // One block of three coordinates; only the middle one has a front.
        HostRhs rhs = (t, y, f) =>
        {
            f[0] = -y[0];
            double s = Math.Tanh(1e2 * (t - 0.5));
            f[1] = 1e2 * (1 - (s * s));
            f[2] = Math.Cos(t);
        };
        var layout = new StateLayout([new StateBlock("y", 3, 1e-10, 1e-12)]);
        OdeResult r = OdeSolver.Solve(new HostOdeTerm(rhs), new HostStateAlgebra(layout), new DormandPrince5(), 0, 1, new HostState([1.0, 0.0, 0.0]));
        Assert.True(r.RejectedSteps >= 3, $"{r.RejectedSteps} rejections");
        Assert.Equal(r.RejectedSteps, r.RejectedByCoordinate[1]);
        Assert.Equal([1], r.RejectedByCoordinate.Keys);
    }

    [Fact]
    public void SwappedBlocks_SwapTheCharges()
    {
        // The same problem with the blocks' order swapped: the attribution follows the block, not its position.
        HostRhs swapped = (t, y, f) =>
        {
            Span<double> g = stackalloc double[2];
            TwoBlocks(t, [y[1], y[0]], g);
            f[0] = g[1];
            f[1] = g[0];
        };
        var layout = new StateLayout([new StateBlock("front", 1, 1e-8, 1e-10), new StateBlock("smooth", 1, 1e-8, 1e-10)]);
        OdeResult r = OdeSolver.Solve(new HostOdeTerm(swapped), new HostStateAlgebra(layout), new DormandPrince5(), 0, 1, new HostState([0.0, 1.0]));
        Assert.True(r.RejectedSteps >= 3);
        Assert.Equal([r.RejectedSteps, 0], r.RejectedByBlock);
        Assert.Equal([0], r.RejectedByCoordinate.Keys);
    }

    [Fact]
    public void FixedSteps_HaveNoAttribution()
    {
        OdeResult r = Solve(new ClassicalRungeKutta4(), new OdeOptions<HostState> { FixedStepCount = 10 });
        Assert.Empty(r.RejectedByBlock);
        Assert.Empty(r.RejectedByCoordinate);
    }

    [Fact]
    public void Checkpoints_CarryTheCounts_AndResumeEndsWithTheSameOnes()
    {
        OdeResult whole = Solve(new DormandPrince5());
        var checkpoints = new List<OdeCheckpoint>();
        Solve(new DormandPrince5(), new OdeOptions<HostState> { CheckpointDue = () => true, Checkpoint = checkpoints.Add });
        OdeCheckpoint middle = checkpoints.First(c => c.RejectedSteps > 0 && c.RejectedSteps < whole.RejectedSteps);
        Assert.Equal(middle.RejectedSteps, middle.RejectedByBlock.Sum());
        Assert.Equal([1, middle.RejectedSteps], middle.RejectedByCoordinate);
        ResumeAssert.ContinuesBitForBit(whole, Solve(new DormandPrince5(), new OdeOptions<HostState> { ResumeFrom = middle }));
    }
}
