using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Solvers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Flows.Tests;

/// <summary>
/// The moments' log scales (OptimizerFlow class remarks): when the loss falls faster than the momentum forgets,
/// m e^{−σ} would overflow; the flow keeps m̃ = m e^{−λ_m} of order one instead, and stays the same ODE.
/// </summary>
public class MomentScaleTests
{
    [Fact]
    public void Signum_WithLargeEta0_LossOutrunsTheMomentum_StaysFinite_ReachesTheTarget()
    {
        // η0 = 0.3 on the two-layer squared-ReLU problem: log L falls by hundreds within the momentum's memory
        // 1/c1 ≈ 9.5 (with m̃ = m e^{−σ} this run ended NonFiniteState once e^{|Δσ|−c1 Δt} passed 1e308).
        (OptimizerFlow flow, double[] theta0) = LongRunTests.SquaredReluFlow("signum", 0.3);
        double largestLag = 0, largestMomentum = 0;
        int mo = flow.Layout.Offset(flow.MomentumBlock(0)), length = flow.Parameters.Length;
        OdeResult result = FlowSolver.Solve(flow, theta0, new FlowSolveOptions
        {
            TargetLogLoss = -1000,
            MaxTime = 1e15,
            SaveAt = SaveAt.EveryStep(),
            KeepSavedStates = false,
            OnSave = (_, y) =>
            {
                largestLag = Math.Max(largestLag, flow.MomentumLogScale(0, y) - flow.LogLoss(y));
                largestMomentum = Math.Max(largestMomentum, y.AsSpan(mo, length).ToArray().Max(Math.Abs));
            },
        });

        Assert.Equal(OdeStatus.EventReached, result.Status);
        Assert.All(result.FinalState, x => Assert.True(double.IsFinite(x)));
        double logLoss = LongRunTests.SquaredReluLogLoss(flow.Theta(result.FinalState));
        Assert.InRange(logLoss, -1000.5, -1000);

        // m̃ = m e^{−λ_m} is kept of order one at the end too: neither overflowed nor collapsed to zero (underflow
        // is the other way a badly chosen scale fails).
        double finalMomentum = result.FinalState.AsSpan(mo, length).ToArray().Max(Math.Abs);
        Assert.InRange(finalMomentum, 1e-6, 1e6);
        Assert.True(largestLag > 50, $"λ_m − σ reached only {largestLag}");
        Assert.True(largestMomentum < 1e6, $"max |m̃| = {largestMomentum}");
    }

    [Fact]
    public void ScaledFlow_MatchesTheUnscaledMomentumOde_WhileTheLatterIsRepresentable()
    {
        // Up to t = 30 the loss outruns the momentum (λ_m − σ ≈ 13.6 at the end) but stays representable, so the
        // plain ODE of (θ, m), dθ/dt = −η sign_δ(m), dm/dt = c1 (g − m), can be integrated directly and compared.
        (OptimizerFlow flow, double[] theta0) = LongRunTests.SquaredReluFlow("signum", 0.3, tolerances: new FlowTolerances(1e-12, 1e-16));
        const double end = 30;
        OdeResult scaled = FlowSolver.Solve(flow, theta0, new FlowSolveOptions { TargetLogLoss = -1e9, MaxTime = end, Method = "dopri5" });
        Assert.Equal(OdeStatus.Success, scaled.Status);
        double lag = flow.MomentumLogScale(0, scaled.FinalState) - flow.LogLoss(scaled.FinalState);
        Assert.True(lag > 5, $"the loss did not outrun the momentum (λ_m − σ = {lag})");

        int n = flow.Parameters.Length;
        OptimizerPart part = flow.Parts[0];
        var gradient = new double[n];
        var direction = new double[n];
        var layout = new StateLayout([new StateBlock("theta", n, 1e-12, 1e-16), new StateBlock("m", n, 1e-12, 1e-300)]);
        var term = new HostOdeTerm((t, y, dydt) =>
        {
            double logLoss = flow.Oracle.Evaluate(y[..n], gradient);
            ReadOnlySpan<double> m = y[n..];
            bool fromGradient = t <= 0 || m.ToArray().Max(Math.Abs) == 0;
            Directions.Sign(fromGradient ? gradient : m, part.SignWidth, part.SignMode, direction);
            double eta = flow.Schedules[0].Eta(t);
            double loss = Math.Exp(logLoss);
            for (int j = 0; j < n; j++)
            {
                dydt[j] = -eta * direction[j];
                dydt[n + j] = part.C1 * ((loss * gradient[j]) - m[j]);
            }
        });
        var y0 = new HostState(2 * n);
        theta0.CopyTo(y0.Values, 0);
        OdeResult plain = OdeSolver.Solve(term, new HostStateAlgebra(layout), MethodCatalog.Find("dopri5")!, 0, end, y0);
        Assert.Equal(OdeStatus.Success, plain.Status);

        double scale = Math.Exp(flow.MomentumLogScale(0, scaled.FinalState));
        double mMax = plain.FinalState[n..].Max(Math.Abs), thetaError = 0, mError = 0;
        for (int j = 0; j < n; j++)
        {
            thetaError = Math.Max(thetaError, Math.Abs(plain.FinalState[j] - scaled.FinalState[j]));
            double m = scaled.FinalState[flow.Layout.Offset(flow.MomentumBlock(0)) + j] * scale;
            mError = Math.Max(mError, Math.Abs(m - plain.FinalState[n + j]) / mMax);
        }

        // Measured at rtol 1e-12: θ 7.6e−7, m 2.7e−8 (1e−10 gives 7.3e−6 and 1.0e−7: the smoothed sign amplifies
        // local errors, and both shrink with the tolerance).
        Assert.True(thetaError < 5e-6, $"θ differs by {thetaError}");
        Assert.True(mError < 1e-6, $"m differs by {mError} of max |m|");
    }
}
