using System.Numerics.Tensors;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Analysis.Tests.Observers;

/// <summary>
/// The observer's values against values computed by hand on a tiny problem: NMomentumGD on the linear predictor
/// (L = 1) with z1 = (2, 0.5), z2 = (0.5, 1) (labels +1), exponential loss, so q_i = ⟨θ, z_i⟩, log L = log Σ e^{−q_i},
/// ∇log L = −Σ w_i z_i with w_i = e^{−q_i}/L, φ⁻¹(log 1/L) = −log L, and η = η0 (t + 1)^{−p}.
/// </summary>
public class ObserverColumnsTests
{
    private static readonly double[][] Z = [[2, 0.5], [0.5, 1]];
    private const double Eta0 = 0.7, Power = 0.5;

    [Fact]
    public void Columns_MatchHandComputedValues()
    {
        var data = new Dataset([2, 0.5, 0.5, 1], [1.0, 1.0], 2);
        var network = new FullyConnectedNetwork(2, [], Activation.Identity);
        var flow = new OptimizerFlow(new ModelOracle(new LossEvaluator(network, data, Loss.Exponential, 1)), OptimizerCatalog.Parts(new OptimizerSpec("nmomentum", Eta0), network.Layout), Power);
        double[] theta0 = [0.3, -0.2], theta = [1.2, 0.4], mTilde = [0.5, 0.3];
        const double t = 3, lambdaOffset = 0.7;
        var observer = new TrajectoryObserver(flow, new LossEvaluator(network, data, Loss.Exponential, 1), ObservedFlow.OwnNorm(flow), theta0);

        var y0 = new double[flow.Layout.Length];
        flow.InitialState(theta0, y0);
        observer.Observe(0, y0, new SolverCounters(0, 0, 0, 1));

        // A later state set by hand: θ, m̃ and λ_m = log L(θ) + 0.7, so m = m̃ e^{λ_m} = e^{0.7} L m̃.
        var y = new double[flow.Layout.Length];
        flow.InitialState(theta, y);
        mTilde.CopyTo(y, flow.Layout.Offset(flow.MomentumBlock(0)));
        int scaleOffset = flow.Layout.Offset(flow.MomentumScaleBlock(0));
        y[scaleOffset] += lambdaOffset;
        observer.Observe(t, y, new SolverCounters(0.25, 7, 2, 60));
        PostRunSummary summary = observer.Finish();

        // By hand.
        double[] q = Z.Select(z => (theta[0] * z[0]) + (theta[1] * z[1])).ToArray();
        double loss = Math.Exp(-q[0]) + Math.Exp(-q[1]), logLoss = Math.Log(loss);
        double[] g = [0, 0];
        for (int i = 0; i < 2; i++)
        {
            double w = Math.Exp(-q[i]) / loss;
            g[0] -= w * Z[i][0];
            g[1] -= w * Z[i][1];
        }

        double l2 = Math.Sqrt((theta[0] * theta[0]) + (theta[1] * theta[1])), linf = Math.Max(Math.Abs(theta[0]), Math.Abs(theta[1]));
        double gl2 = Math.Sqrt((g[0] * g[0]) + (g[1] * g[1])), gl1 = Math.Abs(g[0]) + Math.Abs(g[1]);
        double thetaG = (theta[0] * g[0]) + (theta[1] * g[1]);
        double integral = Eta0 * (Math.Sqrt(t + 1) - 1) / 0.5, eta = Eta0 / Math.Sqrt(t + 1);
        double qMin = q.Min();
        double ml2 = Math.Sqrt((mTilde[0] * mTilde[0]) + (mTilde[1] * mTilde[1]));
        double mg = ((mTilde[0] * g[0]) + (mTilde[1] * g[1])) / (ml2 * gl2);

        Trajectory trajectory = observer.Trajectory;
        Assert.Equal(2, trajectory.Count);
        Assert.True(trajectory.Finished);
        Observation last = trajectory.Last!;
        void Near(string what, Func<Observation, double> value, double expected) =>
            Assert.True(Math.Abs(value(last) - expected) <= 1e-12 * Math.Max(1, Math.Abs(expected)), $"{what} = {value(last)}, by hand {expected}");

        Assert.True(qMin > 0 && logLoss < 0); // separated, L < ℓ(0) = 1: every margin is defined
        Near("t", o => o.Time, t);
        Near("logLoss", o => o.LogLoss, logLoss);
        Near("etaIntegral", o => o.EtaIntegral, integral);
        Near("eta", o => o.Eta, eta);
        Near("minMargin", o => o.MinMargin, qMin);
        Near("phiInverse", o => o.PhiInverse, -logLoss);
        Near("hardMargin_l2", o => o.In(ObservedNorm.L2)!.HardMargin, qMin / l2);
        Near("hardMargin_linf", o => o.In(ObservedNorm.LInf)!.HardMargin, qMin / linf);
        Near("hardMargin_own", o => o.Own.HardMargin, qMin / l2); // NMomentumGD's own norm is ℓ2
        Near("softMargin_l2", o => o.In(ObservedNorm.L2)!.SoftMargin, -logLoss / l2);
        Near("softMargin_linf", o => o.In(ObservedNorm.LInf)!.SoftMargin, -logLoss / linf);
        Near("alignment_l2", o => o.In(ObservedNorm.L2)!.Alignment, -thetaG / (l2 * gl2));
        Near("alignment_linf", o => o.In(ObservedNorm.LInf)!.Alignment, -thetaG / (linf * gl1));
        Near("normOverEtaIntegral_l2", o => o.In(ObservedNorm.L2)!.NormOverEtaIntegral, l2 / integral);
        Near("normOverEtaIntegral_linf", o => o.In(ObservedNorm.LInf)!.NormOverEtaIntegral, linf / integral);
        Near("driftLinfOverEtaIntegral", o => o.DriftLInfOverEtaIntegral, Math.Max(Math.Abs(theta[0] - theta0[0]), Math.Abs(theta[1] - theta0[1])) / integral);

        // ‖m‖₂/‖∇L‖₂ with m = m̃ e^{λ_m}, ∇L = L ∇log L; the gap ‖m/‖m‖ − g/‖g‖‖₂ = √(2 − 2 cos).
        Near("momentumRatio", o => o.Parts.Single().MomentumRatio, Math.Exp(lambdaOffset) * ml2 / gl2);
        Near("momentumDirectionGap", o => o.Parts.Single().MomentumDirectionGap, Math.Sqrt(Math.Max(0, 2 - (2 * mg))));

        // dθ/dt = −η m/‖m‖₂: speed η, r = ⟨m/‖m‖, g/‖g‖⟩ for both ν = ‖dθ/dt‖ and ν = η (Definition 5.1).
        Near("speed", o => o.Speed, eta);
        Near("rSpeed", o => o.RSpeed, mg);
        Near("rEta", o => o.REta, mg);

        // The solver's counters pass through; the post-run columns use the last hard margin as γ∞.
        Near("stepSize", o => o.Counters.StepSize, 0.25);
        Near("acceptedSteps", o => o.Counters.AcceptedSteps, 7);
        Near("rejectedSteps", o => o.Counters.RejectedSteps, 2);
        Near("rhsEvaluations", o => o.Counters.Evaluations, 60);
        Near("lemmaC10Ratio_l2", o => o.In(ObservedNorm.L2)!.LemmaC10Ratio, -logLoss / qMin);
        Assert.True(double.IsNaN(trajectory[0].PhiInverse)); // L(θ0) > 1: φ⁻¹(log 1/L) undefined
        double cosine = TensorPrimitives.CosineSimilarity(theta0, theta);
        Assert.Equal(cosine, trajectory[0].CosineToLast, 1e-12);
        Near("cosineToLast", o => o.CosineToLast, 1);
        Near("tOverTLast", o => o.TimeOverLast, 1);
        Assert.Equal(0, trajectory[0].TimeOverLast);
        Assert.Equal(qMin / l2, summary.FinalHardMargin, 1e-12);
        Assert.Equal(1, summary.SecondHalfMinCosine, 1e-12); // only the last row has t ≥ t_last/2
    }
}
