using ImplicitBias.Flow.Analysis.Kkt;
using ImplicitBias.Flow.Analysis.Verification;

namespace ImplicitBias.Flow.Analysis.Tests.Verification;

/// <summary>
/// KKT certificates (Definition C.4) of flows' final directions on linear predictors (D = 1, L = 1) whose
/// max-margin directions are known (see tests/ImplicitBias.Flow.Flows.Tests/ImplicitBiasTests.cs).
/// <para>
/// Two samples z1 = (2, 0.5), z2 = (0.5, 1): the ℓ2 direction is (1, 2)/√5, the ℓ∞ direction (1, 1)/√2. At
/// the ℓ2 direction only θ̃₂ attains ‖θ̃‖∞, so k = (0, ‖θ̃‖∞), which is outside the cone of z1, z2: ε∞ &gt; 0.
/// The ℓ∞ direction lies inside that cone, so its ε₂ is 0 as well (only δ &gt; 0 tells it apart); the ℓ∞
/// flows are therefore contrasted on one sample z = (1, 0.5), where ℓ2 gives z/‖z‖ and ℓ∞ gives (1, 1)/√2,
/// and ε₂ at (2/3, 2/3) is (2/15)√5 (relative 1/√10 ≈ 0.32).
/// </para>
/// </summary>
public class LinearKktTests
{
    private static readonly double[] OneSample = [1, 0.5];
    private static readonly double[] TwoSamples = [2, 0.5, 0.5, 1];

    private static (double L2, double LInf, double AlignmentOwn) Certify(double[] x, string name, double eta0, double target)
    {
        ObservedProblem p = TestProblems.Linear(x, name, eta0, target);
        KktSummary kkt = PredictionChecks.FinalKkt(p.Flow.Theta(p.Run.Result.FinalState), p.Flow, p.Evaluator)!;
        Assert.Equal(["l2", "linf"], kkt.Results.Select(r => r.Norm));
        KktResult l2 = kkt.Results[0], linf = kkt.Results[1];
        return (l2.Epsilon / kkt.ThetaTildeL2, linf.Epsilon / kkt.ThetaTildeL2, p.Run.Trajectory.Last!.Own.Alignment);
    }

    [Theory]
    [InlineData("two", "ngd", 1.0)]
    [InlineData("one", "ngd", 1.0)]
    [InlineData("one", "nmomentum", 1.0)]
    public void L2Flows_AreL2KktAndClearlyNotLInfKkt(string samples, string name, double eta0)
    {
        var (l2, linf, alignment) = Certify(samples == "two" ? TwoSamples : OneSample, name, eta0, -1e4);
        Assert.True(l2 <= 1e-3, $"ε₂ = {l2}");
        Assert.True(linf >= 0.1, $"ε∞ = {linf}");
        Assert.True(alignment > 0.99, $"alignment = {alignment}");
    }

    [Theory]
    [InlineData("signgd")]
    [InlineData("signum")]
    [InlineData("adam")]
    public void LInfFlows_AreLInfKktAndClearlyNotL2Kkt(string name)
    {
        var (l2, linf, alignment) = Certify(OneSample, name, 0.1, -1e4);
        Assert.True(linf <= 1e-3, $"ε∞ = {linf}");
        Assert.True(l2 >= 0.1, $"ε₂ = {l2}");
        Assert.True(alignment > 0.99, $"alignment = {alignment}");
    }
}
