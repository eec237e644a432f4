using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Solvers;

namespace ImplicitBias.Flow.Flows.Tests;

/// <summary>
/// Continuous GD and MomentumGD with the logistic loss, integrated by the flow and compared with values computed
/// here without it: one sample z = y x = (1, 0.5) on the linear predictor, so the loss is ℓ(q) = log(1 + e^{−q}) of
/// the single margin q = ⟨θ, z⟩ and ∇L = −z / (1 + e^{q}).
/// </summary>
public class ClosedFormFlowTests
{
    private static readonly double[] Z = [1, 0.5];
    private static readonly double[] Theta0 = [0.3, -0.2];
    private const double Eta0 = 1.0, Power = 0.5;

    private static OptimizerFlow LogisticFlow(string optimizer)
    {
        var data = new Dataset(Z, [1.0], 2);
        var network = new FullyConnectedNetwork(2, [], Activation.Identity);
        var oracle = new ModelOracle(new LossEvaluator(network, data, Loss.Logistic, maxDegreeOfParallelism: 1));
        return new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec(optimizer, Eta0), network.Layout), Power, tolerances: new FlowTolerances(1e-11, 1e-13));
    }

    private static double[] Solve(OptimizerFlow flow, double end)
    {
        OdeResult result = FlowSolver.Solve(flow, Theta0, new FlowSolveOptions { TargetLogLoss = -1e9, MaxTime = end, SaveAt = SaveAt.Nothing });
        Assert.Equal(OdeStatus.Success, result.Status);
        Assert.Equal(end, result.FinalTime);
        return flow.Theta(result.FinalState).ToArray();
    }

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => (a[0] * b[0]) + (a[1] * b[1]);

    /// <summary>η(t) = η0 (t + 1)^{−p}, the flow's schedule, written out.</summary>
    private static double Eta(double t) => Eta0 * Math.Pow(t + 1, -Power);

    [Fact]
    public void Gd_LogisticLoss_MatchesTheClosedForm()
    {
        // dθ/dt = −η ∇L = η z / (1 + e^q), so q' = η ‖z‖² / (1 + e^q): separable, q + e^q = q0 + e^{q0} + ‖z‖² ∫η,
        // with ∫_0^T η = η0 ((T + 1)^{1−p} − 1)/(1 − p); θ moves along z only: θ(T) = θ0 + z (q(T) − q0)/‖z‖².
        const double end = 30;
        double[] theta = Solve(LogisticFlow("gd"), end);
        double zz = Dot(Z, Z), q0 = Dot(Theta0, Z);
        double rhs = q0 + Math.Exp(q0) + (zz * Eta0 * (Math.Pow(end + 1, 1 - Power) - 1) / (1 - Power));
        double q = Math.Log(rhs); // Newton on q + e^q = rhs from above (the map is convex and increasing).
        for (int k = 0; k < 100; k++)
        {
            q -= (q + Math.Exp(q) - rhs) / (1 + Math.Exp(q));
        }

        Assert.True(q > q0 + 1, $"q moved only from {q0} to {q}");
        for (int j = 0; j < 2; j++)
        {
            double expected = Theta0[j] + (Z[j] * (q - q0) / zz);
            Assert.True(Math.Abs(theta[j] - expected) <= 1e-7, $"θ[{j}] = {theta[j]}, closed form {expected}");
        }
    }

    [Fact]
    public void MomentumGd_LogisticLoss_MatchesAnIndependentRk4()
    {
        // dθ/dt = −η m, dm/dt = c1 (∇L − m), m(0) = 0 (SPEC §2), integrated here by classical RK4 with h = 1e-3
        // (error ~ h⁴, far below the tolerance), compared with the flow, which carries m as m̃ = m e^{−λ_m}.
        const double end = 20, h = 1e-3;
        OptimizerFlow flow = LogisticFlow("momentum");
        double c1 = flow.Parts[0].C1;
        double[] theta = Solve(flow, end);

        double[] Field(double t, double[] y)
        {
            double q = (y[0] * Z[0]) + (y[1] * Z[1]);
            double s = 1 / (1 + Math.Exp(q));
            return [-Eta(t) * y[2], -Eta(t) * y[3], c1 * ((-s * Z[0]) - y[2]), c1 * ((-s * Z[1]) - y[3])];
        }

        double[] state = [Theta0[0], Theta0[1], 0, 0];
        int steps = (int)Math.Round(end / h);
        for (int k = 0; k < steps; k++)
        {
            double t = k * h;
            double[] k1 = Field(t, state);
            double[] k2 = Field(t + (h / 2), state.Select((v, i) => v + (h / 2 * k1[i])).ToArray());
            double[] k3 = Field(t + (h / 2), state.Select((v, i) => v + (h / 2 * k2[i])).ToArray());
            double[] k4 = Field(t + h, state.Select((v, i) => v + (h * k3[i])).ToArray());
            state = state.Select((v, i) => v + (h / 6 * (k1[i] + (2 * k2[i]) + (2 * k3[i]) + k4[i]))).ToArray();
        }

        Assert.True(Dot(state, Z) > Dot(Theta0, Z) + 1, "the reference barely moved");
        for (int j = 0; j < 2; j++)
        {
            Assert.True(Math.Abs(theta[j] - state[j]) <= 1e-7, $"θ[{j}] = {theta[j]}, RK4 {state[j]}");
        }
    }
}
