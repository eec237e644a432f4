using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Solvers.ReferenceProblems;

/// <summary>
/// A published initial-value problem with a known answer at its final time (docs/reference-problems.md).
/// </summary>
/// <param name="Name">CLI name, e.g. "arenstorf".</param>
/// <param name="Rhs">N(t, y) (the whole right-hand side when <paramref name="DecayRate"/> is 0).</param>
/// <param name="T0">Initial time.</param>
/// <param name="T1">Final time.</param>
/// <param name="InitialState">y(T0).</param>
/// <param name="Reference">Reference values at T1 of the components listed in <paramref name="Compared"/>.</param>
/// <param name="Compared">Indices of the compared components (all when null).</param>
/// <param name="DecayRate">The linear decay rate c of the semilinear form y' = −c y + N.</param>
public sealed record ReferenceProblem(string Name, HostRhs Rhs, double T0, double T1, double[] InitialState, double[] Reference, int[]? Compared = null, double DecayRate = 0.0)
{
    /// <summary>A one-block layout with the given tolerances and the problem's decay rate.</summary>
    public StateLayout Layout(double relTol, double absTol) => StateLayout.Single(InitialState.Length, relTol, absTol, DecayRate);

    /// <summary>The Euclidean norm of the difference between <paramref name="final"/> and the reference.</summary>
    public double Error(ReadOnlySpan<double> final)
    {
        double sum = 0.0;
        for (int i = 0; i < Reference.Length; i++)
        {
            int component = Compared is null ? i : Compared[i];
            double d = final[component] - Reference[i];
            sum += d * d;
        }

        return Math.Sqrt(sum);
    }

    /// <summary>Solves the problem (optionally with fixed steps or a given controller) with rtol = <paramref name="relTol"/>, atol = <paramref name="absTol"/>.</summary>
    public OdeResult Solve(Methods.OdeMethod method, double relTol, double absTol, int? fixedSteps = null, Controllers.IStepSizeController? controller = null)
    {
        var algebra = new HostStateAlgebra(Layout(relTol, absTol));
        var options = new OdeOptions<HostState> { FixedStepCount = fixedSteps, Controller = controller };
        return OdeSolver.Solve(new HostOdeTerm(Rhs), algebra, method, T0, T1, new HostState((double[])InitialState.Clone()), options);
    }
}
