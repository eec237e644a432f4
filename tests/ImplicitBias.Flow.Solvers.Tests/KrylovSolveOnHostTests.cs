using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Rosenbrock;
using Xunit.Abstractions;

namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>
/// The Rosenbrock-W method's solves on host arrays (one copy of the Krylov basis, projections and combinations in two
/// halves of the state on the worker team) against the generic path that every other algebra takes (the basis copied
/// beside the states, the combinations through the algebra): the same arithmetic up to the order of the sums.
/// </summary>
public class KrylovSolveOnHostTests(ITestOutputHelper output)
{
    private const int Size = 4_000; // 60 basis vectors × 4,000 values: above the size at which the halves run in parallel

    // y_i' = −d_i (y_i − sin(t + i)) + 0.1 sin(y_{i+1}): sixteen stiff modes (d = 1e3 … 2.5e3) among slow ones.
    private static readonly HostRhs ManyModes = (t, y, f) =>
    {
        for (int i = 0; i < Size; i++)
        {
            double d = i % 250 == 3 ? 1e3 * (1 + ((i / 250) % 4 * 0.5)) : 1 + (i % 50);
            f[i] = (-d * (y[i] - Math.Sin(t + i))) + (0.1 * Math.Sin(y[(i + 1) % Size]));
        }
    };

    private static OdeResult Solve(IStateAlgebra<HostState> algebra, OdeOptions<HostState> options, double t1 = 0.05) =>
        OdeSolver.Solve(new HostOdeTerm(ManyModes), algebra, new Ros34Pw2(), 0, t1, new HostState(StiffTestProblems.Start(Size)), options);

    /// <summary>
    /// Fewer steps than W's rebuild interval, so both build one W at the same point and differ only in the order of the
    /// solves' sums. (A rebuild at points a rounding apart gives W's that differ by the forward differences' noise, some
    /// 1e-5 relative, and answers that differ at the level of the local error: 4.7e-9 after 25 steps here.)
    /// </summary>
    [Fact]
    public void FixedSteps_GiveTheGenericPathsAnswerToRounding()
    {
        var layout = StateLayout.Single(Size, 1e-6, 1e-9);
        var options = new OdeOptions<HostState> { FixedStepCount = 15 };
        OdeResult host = Solve(new HostStateAlgebra(layout), options, 0.03);
        OdeResult generic = Solve(new GenericAlgebra(new HostStateAlgebra(layout)), options, 0.03);
        double difference = host.FinalState.Zip(generic.FinalState, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"{host.RhsEvaluations} evaluations; largest difference {difference:g3}");
        Assert.Equal(OdeStatus.Success, host.Status);
        Assert.Equal(generic.RhsEvaluations, host.RhsEvaluations);
        Assert.True(difference < 1e-12, $"largest difference {difference:g3}");
        Assert.True(host.FinalState.All(double.IsFinite));
    }

    /// <summary>Adaptive steps, W rebuilt along the way: the same steps, and answers within the tolerance (rtol 1e-6).</summary>
    [Fact]
    public void AdaptiveSteps_MatchTheGenericPath()
    {
        var layout = StateLayout.Single(Size, 1e-6, 1e-9);
        var options = new OdeOptions<HostState>();
        OdeResult host = Solve(new HostStateAlgebra(layout), options);
        OdeResult generic = Solve(new GenericAlgebra(new HostStateAlgebra(layout)), options);
        double difference = host.FinalState.Zip(generic.FinalState, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"host {host.AcceptedSteps}+{host.RejectedSteps}, generic {generic.AcceptedSteps}+{generic.RejectedSteps}; largest difference {difference:g3}");
        Assert.Equal(OdeStatus.Success, host.Status);
        Assert.InRange(host.AcceptedSteps + host.RejectedSteps, generic.AcceptedSteps + generic.RejectedSteps - 2, generic.AcceptedSteps + generic.RejectedSteps + 2);
        Assert.True(difference < 1e-6, $"largest difference {difference:g3}");
    }

    /// <summary>
    /// A step allocates nothing in W's factorization and solves: ten more fixed steps with the same W (no rebuild between)
    /// allocate less than 1 KB each, where the small system's matrices, copied at every attempt, took 6 m² values
    /// (m = 50 here: 120 KB per step).
    /// </summary>
    [Fact]
    public void Steps_WithTheSameW_AllocateAlmostNothing()
    {
        var layout = StateLayout.Single(StiffTestProblems.Size, 1e-6, 1e-9);
        var method = new Ros34Pw2 { KrylovDimension = 50, RefreshEvery = 1_000 };
        long Allocated(int steps)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            OdeSolver.Solve(new HostOdeTerm(StiffTestProblems.OneStiffModeInN), new HostStateAlgebra(layout), method, 0, 1e-3 * steps, new HostState(StiffTestProblems.Start()),
                new OdeOptions<HostState> { FixedStepCount = steps });
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Allocated(5); // warm-up (JIT, the shared team)
        long perStep = (Allocated(15) - Allocated(5)) / 10;
        output.WriteLine($"{perStep} bytes per step");
        Assert.True(perStep < 1_024, $"{perStep} bytes per step");
    }

    /// <summary>The host algebra without its arrays exposed: the path a device algebra takes.</summary>
    private sealed class GenericAlgebra(HostStateAlgebra inner) : IStateAlgebra<HostState>
    {
        public StateLayout Layout => inner.Layout;

        public HostState Allocate() => inner.Allocate();

        public void Copy(HostState source, HostState destination) => inner.Copy(source, destination);

        public void Combine(HostState y, ReadOnlySpan<double> yScale, ReadOnlySpan<double> coefficients, ReadOnlySpan<HostState> stages, bool perBlock, HostState destination) =>
            inner.Combine(y, yScale, coefficients, stages, perBlock, destination);

        public void BlockMaxAbs(HostState y, ReadOnlySpan<bool> blocks, Span<double> destination) => inner.BlockMaxAbs(y, blocks, destination);

        public double ScaledSquareSum(HostState y0, HostState y1, HostState error, ReadOnlySpan<double> relTol, ReadOnlySpan<double> absTol) =>
            inner.ScaledSquareSum(y0, y1, error, relTol, absTol);

        public bool AllFinite(HostState y) => inner.AllFinite(y);

        public void Read(HostState source, Span<double> destination) => inner.Read(source, destination);

        public void Write(ReadOnlySpan<double> source, HostState destination) => inner.Write(source, destination);
    }
}
