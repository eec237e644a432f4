using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Methods;
using ImplicitBias.Flow.Solvers.Rosenbrock;
using Xunit.Abstractions;

namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>
/// A Rosenbrock-W step with a Jacobian model that costs no evaluation (<see cref="IJacobianModelTerm"/>): the model's
/// directions enter W for free, and the paid Krylov vectors go to what it misses.
/// </summary>
public class JacobianModelTests(ITestOutputHelper output)
{
    private const int Size = 120;
    private const int StiffModes = 30;

    /// <summary>
    /// y' = −K (y − cos(t) c) + 0.1 sin(y), with K = Σ_k λ_k e_k e_kᵀ, 30 orthonormal directions e_k whose rates λ_k run
    /// from 1e2 to 1e4: thirty stiff modes, smooth forcing, and a mildly nonlinear rest. The model is −K itself.
    /// </summary>
    private sealed class StiffLowRank : IJacobianModelTerm
    {
        private readonly double[][] _e = new double[StiffModes][];
        private readonly double[] _lambda = new double[StiffModes];
        private readonly double[] _c = new double[Size];

        public StiffLowRank(int rank)
        {
            JacobianModelRank = rank;
            var random = new Random(7);
            for (int k = 0; k < StiffModes; k++)
            {
                double[] v = Enumerable.Range(0, Size).Select(_ => random.NextDouble() - 0.5).ToArray();
                for (int pass = 0; pass < 2; pass++)
                {
                    for (int j = 0; j < k; j++)
                    {
                        double d = v.Zip(_e[j], (a, b) => a * b).Sum();
                        for (int i = 0; i < Size; i++)
                        {
                            v[i] -= d * _e[j][i];
                        }
                    }
                }

                double norm = Math.Sqrt(v.Sum(a => a * a));
                _e[k] = v.Select(a => a / norm).ToArray();
                _lambda[k] = 100 * Math.Pow(100, k / (StiffModes - 1.0));
            }

            for (int i = 0; i < Size; i++)
            {
                _c[i] = Math.Sin(i + 1.0);
            }
        }

        public int Models { get; private set; }

        public int JacobianModelRank { get; }

        public void Rhs(double t, ReadOnlySpan<double> y, Span<double> f)
        {
            for (int i = 0; i < Size; i++)
            {
                f[i] = 0.1 * Math.Sin(y[i]);
            }

            for (int k = 0; k < StiffModes; k++)
            {
                double along = 0;
                for (int i = 0; i < Size; i++)
                {
                    along += _e[k][i] * (y[i] - (Math.Cos(t) * _c[i]));
                }

                for (int i = 0; i < Size; i++)
                {
                    f[i] -= _lambda[k] * along * _e[k][i];
                }
            }
        }

        public int JacobianModel(double t, ReadOnlySpan<double> y, ReadOnlySpan<double> n, double[][] range, double[][] coRange)
        {
            Models++;
            int rank = Math.Min(range.Length, JacobianModelRank);
            for (int k = 0; k < rank; k++)
            {
                for (int i = 0; i < Size; i++)
                {
                    range[k][i] = -_lambda[k] * _e[k][i];
                    coRange[k][i] = _e[k][i];
                }
            }

            return rank;
        }
    }

    private static (OdeResult Result, StiffLowRank Problem) Solve(int rank, OdeMethod method, double rtol = 1e-6, OdeOptions<HostState>? options = null)
    {
        var problem = new StiffLowRank(rank);
        var term = new HostOdeTerm(problem.Rhs, null, problem);
        double[] y0 = Enumerable.Range(0, Size).Select(i => Math.Cos(0.3 * i)).ToArray();
        return (OdeSolver.Solve(term, new HostStateAlgebra(StateLayout.Single(Size, rtol, rtol * 1e-3)), method, 0, 3, new HostState(y0), options), problem);
    }

    /// <summary>
    /// With the model, W holds all thirty stiff modes for free and the 8 paid vectors go to the rest: far fewer
    /// evaluations than the same W-method without the model (8 Krylov vectors of ∂N/∂y, extended after rejections),
    /// to the answer of DOP853 at 1e-11 (measured: 2,473 evaluations, error 2.7e-7, against 8,151 and 2.9e-6).
    /// </summary>
    [Fact]
    public void AModelledStiffPart_CostsNoEvaluations_AndKeepsTheAnswer()
    {
        double[] reference = Solve(0, new DormandPrince853(), 1e-11).Result.FinalState;
        (OdeResult without, _) = Solve(0, new Ros34Pw2 { KrylovDimension = 8, SecantUpdates = false });
        (OdeResult with, StiffLowRank problem) = Solve(StiffModes, new Ros34Pw2 { ModelResidualDimension = 8, SecantUpdates = false });
        double Error(OdeResult r) => r.FinalState.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
        output.WriteLine($"without {without.RhsEvaluations} ({without.AcceptedSteps}+{without.RejectedSteps}), error {Error(without):g3}; with the model {with.RhsEvaluations} ({with.AcceptedSteps}+{with.RejectedSteps}), error {Error(with):g3}, {problem.Models} models built");
        Assert.Equal(OdeStatus.Success, with.Status);
        Assert.True(problem.Models > 0);
        Assert.True(3 * with.RhsEvaluations < without.RhsEvaluations, $"{with.RhsEvaluations} against {without.RhsEvaluations}");
        Assert.True(Error(with) < 1e-5, $"error {Error(with):g3}");
    }

    /// <summary>
    /// Where the paid vectors already fill the state (120 asked, 120 coordinates) the model has no room left: W is the
    /// residual's Krylov space alone, and the solve still ends at the reference.
    /// </summary>
    [Fact]
    public void NoRoomForTheModel_StillSolves()
    {
        double[] reference = Solve(0, new DormandPrince853(), 1e-11).Result.FinalState;
        OdeResult full = Solve(StiffModes, new Ros34Pw2 { ModelResidualDimension = 200, SecantUpdates = false }).Result;
        Assert.Equal(OdeStatus.Success, full.Status);
        Assert.True(full.FinalState.Zip(reference, (a, b) => Math.Abs(a - b)).Max() < 1e-5);
    }

    /// <summary>A term whose model has rank 0, or a method asked for no residual vectors, solves exactly as without a model.</summary>
    [Fact]
    public void NoModel_IsTheKrylovWAsBefore()
    {
        OdeResult plain = Solve(0, new Ros34Pw2 { KrylovDimension = 8 }).Result;
        OdeResult off = Solve(StiffModes, new Ros34Pw2 { KrylovDimension = 8, ModelResidualDimension = 0 }).Result;
        Assert.Equal(plain.FinalState, off.FinalState);
        Assert.Equal(plain.RhsEvaluations, off.RhsEvaluations);
    }

    /// <summary>A solve with the model resumed from checkpoints ends bit for bit as the whole one (the model is rebuilt at the stored point).</summary>
    [Fact]
    public void WithAModel_ResumesBitForBit()
    {
        var method = new Ros34Pw2 { ModelResidualDimension = 8, RefreshEvery = 5 };
        double[] times = Enumerable.Range(1, 6).Select(i => i * 0.5).ToArray();
        OdeResult Run(Func<bool>? due = null, Action<OdeCheckpoint>? write = null, OdeCheckpoint? resume = null) =>
            Solve(StiffModes, method, options: new OdeOptions<HostState> { SaveAt = SaveAt.Times(times), CheckpointDue = due, Checkpoint = write, ResumeFrom = resume }).Result;

        OdeResult whole = Run();
        var checkpoints = new List<OdeCheckpoint>();
        Run(() => true, checkpoints.Add);
        Assert.True(checkpoints.Count > 10);
        foreach (OdeCheckpoint c in new[] { checkpoints[2], checkpoints[checkpoints.Count / 3], checkpoints[(2 * checkpoints.Count) / 3] })
        {
            ResumeAssert.ContinuesBitForBit(whole, Run(resume: c));
        }
    }
}
