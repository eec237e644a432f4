using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Solvers;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Flows.Tests;

/// <summary>
/// Muon-Signum (Sec. 5: Muon on W, Signum on u, one η(t)) integrated by the flow and, independently, here: the plain
/// ODE of (W, u, m_W, m_u), dW/dt = −η U Vᵀ(m_W), du/dt = −η s_δ(m_u), dm/dt = c1 (∇L − m), m(0) = 0 (the directions
/// from g at t = 0), with the gradient from the test's own two-layer oracle, U Vᵀ from MathNet's SVD, the smoothed
/// sign s/√(s² + δ²), δ = width · max|s|, written out, and classical RK4 with a small fixed step.
/// </summary>
public class MuonSignumReferenceTests
{
    private static readonly double[][] X = [[1, 0.2], [0.3, 1], [-1, 0.5], [0.2, -1]];
    private static readonly double[] Y = [1, 1, -1, -1];
    private static readonly double[] Theta0 = [0.5, 0.1, -0.2, 0.6, 0.4, -0.3]; // W (2×2, row-major), then u
    private const double Eta0 = 0.2, Power = 0.5, SignWidth = 0.1;

    private static double[] PolarFactor(ReadOnlySpan<double> m)
    {
        var matrix = Matrix<double>.Build.Dense(2, 2, [m[0], m[2], m[1], m[3]]); // column-major storage
        var svd = matrix.Svd(true);
        Matrix<double> q = svd.U * svd.VT;
        return [q[0, 0], q[0, 1], q[1, 0], q[1, 1]];
    }

    private static double[] SmoothSign(ReadOnlySpan<double> s)
    {
        double delta = SignWidth * Math.Max(Math.Abs(s[0]), Math.Abs(s[1]));
        return [s[0] / Math.Sqrt((s[0] * s[0]) + (delta * delta)), s[1] / Math.Sqrt((s[1] * s[1]) + (delta * delta))];
    }

    [Fact]
    public void MuonSignum_MatchesAnIndependentRk4OfThePlainOde()
    {
        var data = new Dataset(X.SelectMany(x => x).ToArray(), Y, 2);
        var network = new FullyConnectedNetwork(2, [2], Activation.SquaredRelu);
        var oracle = new ModelOracle(new LossEvaluator(network, data, Loss.Exponential, maxDegreeOfParallelism: 1));
        var flow = new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec("muon-signum", Eta0, SignWidth: SignWidth), network.Layout), Power, tolerances: new FlowTolerances(1e-11, 1e-13));
        Assert.Equal(2, flow.Parts.Count);
        double c1 = flow.Parts[0].C1;
        Assert.Equal(c1, flow.Parts[1].C1);
        const double end = 5, h = 2e-4;
        OdeResult result = FlowSolver.Solve(flow, Theta0, new FlowSolveOptions { TargetLogLoss = -1e9, MaxTime = end, SaveAt = SaveAt.Nothing });
        Assert.Equal(OdeStatus.Success, result.Status);
        double[] theta = flow.Theta(result.FinalState).ToArray();

        var reference = new SmallNetworkOracle(X, Y, 2);
        var relative = new double[6];
        double[] Field(double t, double[] y)
        {
            double loss = Math.Exp(reference.Evaluate(y.AsSpan(0, 6), relative));
            var dydt = new double[12];
            for (int j = 0; j < 6; j++)
            {
                dydt[6 + j] = c1 * ((loss * relative[j]) - y[6 + j]);
            }

            bool fromGradient = t <= 0;
            ReadOnlySpan<double> source = fromGradient ? relative : y.AsSpan(6, 6);
            double eta = Eta0 * Math.Pow(t + 1, -Power);
            double[] w = PolarFactor(source[..4]), u = SmoothSign(source[4..]);
            for (int j = 0; j < 4; j++)
            {
                dydt[j] = -eta * w[j];
            }

            dydt[4] = -eta * u[0];
            dydt[5] = -eta * u[1];
            return dydt;
        }

        double[] state = [.. Theta0, 0, 0, 0, 0, 0, 0];
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

        double moved = Enumerable.Range(0, 6).Max(j => Math.Abs(state[j] - Theta0[j]));
        Assert.True(moved > 0.2, $"the reference moved only {moved}");
        for (int j = 0; j < 6; j++)
        {
            Assert.True(Math.Abs(theta[j] - state[j]) <= 1e-6, $"θ[{j}] = {theta[j]}, RK4 {state[j]}");
        }
    }
}
