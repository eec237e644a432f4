using System.Numerics.Tensors;
using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Flows.Tests;

public class VectorFieldTests
{
    private static (OptimizerFlow Flow, double[] Y, double[] Dy) At(string name, double t, int seed = 3, SignMode mode = SignMode.Smooth)
    {
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(12, 4, 5, seed);
        var spec = new OptimizerSpec(name, 0.5, SignMode: mode);
        var flow = new OptimizerFlow(oracle, OptimizerCatalog.Parts(spec, oracle.Layout), power: 0.8);
        var rng = new Random(seed);
        double[] theta0 = Enumerable.Range(0, oracle.Layout.Length).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var y = new double[flow.Layout.Length];
        flow.InitialState(theta0, y);

        // Put random momentum / second-moment values in, as at some t > 0 along a trajectory.
        for (int b = 2; b < flow.Layout.BlockCount; b++)
        {
            bool second = flow.Layout.Blocks[b].Name.StartsWith("v:", StringComparison.Ordinal);
            for (int i = 0; i < flow.Layout.Blocks[b].Length; i++)
            {
                y[flow.Layout.Offset(b) + i] = second ? rng.NextDouble() + 0.1 : rng.NextDouble() - 0.5;
            }
        }

        var dy = new double[y.Length];
        flow.Evaluate(t, y, dy);
        return (flow, y, dy);
    }

    private static ReadOnlySpan<double> Block(OptimizerFlow flow, double[] y, int block) =>
        y.AsSpan(flow.Layout.Offset(block), flow.Layout.Blocks[block].Length);

    /// <summary>
    /// ∂N/∂t in closed form (<see cref="OptimizerFlow.TimeDerivative"/>, the time column of a Rosenbrock-W step taken
    /// without an evaluation) against a central difference of N in t at a state with random moments, for every flow
    /// that has it; Muon-Adam (two parts with different time factors) and Adam with ε &gt; 0 take a difference instead.
    /// </summary>
    [Theory]
    [InlineData("gd", true)]
    [InlineData("ngd", true)]
    [InlineData("signgd", true)]
    [InlineData("spectral", true)]
    [InlineData("momentum", true)]
    [InlineData("nmomentum", true)]
    [InlineData("signum", true)]
    [InlineData("adam", true)]
    [InlineData("muon", true)]
    [InlineData("muon-adam", false)]
    public void TimeDerivative_MatchesADifferenceInTime(string name, bool known)
    {
        foreach (double t in new[] { 0.7, 7.0, 300.0 })
        {
            (OptimizerFlow flow, double[] y, double[] n) = At(name, t);
            Assert.Equal(known, flow.HasTimeDerivative);
            if (!known)
            {
                Assert.Throws<InvalidOperationException>(() => flow.TimeDerivative(t, y, n, new double[y.Length]));
                continue;
            }

            var exact = new double[y.Length];
            flow.TimeDerivative(t, y, n, exact);
            double d = 1e-4 * t;
            var plus = new double[y.Length];
            var minus = new double[y.Length];
            flow.Evaluate(t + d, y, plus);
            flow.Evaluate(t - d, y, minus);
            double scale = Math.Abs(TensorPrimitives.MaxMagnitude(exact));
            Assert.True(scale > 0, $"{name}: ∂N/∂t is zero at t = {t}");
            double gap = 0;
            for (int i = 0; i < y.Length; i++)
            {
                gap = Math.Max(gap, Math.Abs(exact[i] - ((plus[i] - minus[i]) / (2 * d))));
            }

            Assert.True(gap < 1e-6 * scale, $"{name} at t = {t}: ∂N/∂t off a central difference by {gap:g3} (scale {scale:g3})");
        }
    }

    /// <summary>Adam with ε &gt; 0 has an elementwise time dependence, so its ∂N/∂t is not offered in closed form.</summary>
    [Fact]
    public void AdamWithEpsilon_HasNoClosedFormTimeDerivative()
    {
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(12, 4, 5, 3);
        var flow = new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec("adam", 0.5, Epsilon: 1e-8), oracle.Layout), power: 0.8);
        Assert.False(flow.HasTimeDerivative);
    }

    /// <summary>The schedule's η′/η against a central difference of log η.</summary>
    [Fact]
    public void ScheduleRelativeRate_MatchesADifference()
    {
        (OptimizerFlow flow, _, _) = At("gd", 2.0);
        // η′/η against a central difference of log η.
        const double t = 3.0, d = 1e-5;
        double numeric = (Math.Log(flow.Schedules[0].Eta(t + d)) - Math.Log(flow.Schedules[0].Eta(t - d))) / (2 * d);
        Assert.Equal(numeric, flow.Schedules[0].RelativeRate(t), 8);
    }

    [Fact]
    public void Ngd_MovesAtSpeedEta_AgainstTheGradient()
    {
        (OptimizerFlow flow, double[] y, double[] dy) = At("ngd", 2.0);
        double eta = 0.5 * Math.Pow(3.0, -0.8);
        ReadOnlySpan<double> thetaDot = dy.AsSpan(0, flow.Parameters.Length);
        Assert.Equal(eta, TensorPrimitives.Norm(thetaDot), 12);
        Assert.Equal(-eta * TensorPrimitives.Norm(flow.LastRelativeGradient), TensorPrimitives.Dot(thetaDot, flow.LastRelativeGradient), 12);
    }

    [Fact]
    public void NormalizedMomentum_PairsWithMomentumToMinusEtaNorm()
    {
        (OptimizerFlow flow, double[] y, double[] dy) = At("nmomentum", 1.0);
        double eta = 0.5 * Math.Pow(2.0, -0.8);
        ReadOnlySpan<double> thetaDot = dy.AsSpan(0, flow.Parameters.Length);
        ReadOnlySpan<double> m = Block(flow, y, flow.MomentumBlock(0));
        Assert.Equal(eta, TensorPrimitives.Norm(thetaDot), 12);
        Assert.Equal(-eta * TensorPrimitives.Norm(m), TensorPrimitives.Dot(thetaDot, m), 12);
    }

    [Fact]
    public void ExactSignum_HasUnitLinfSpeed_AndPairsToMinusEtaL1()
    {
        (OptimizerFlow flow, double[] y, double[] dy) = At("signum", 1.0, mode: SignMode.Exact);
        double eta = 0.5 * Math.Pow(2.0, -0.8);
        ReadOnlySpan<double> thetaDot = dy.AsSpan(0, flow.Parameters.Length);
        ReadOnlySpan<double> m = Block(flow, y, flow.MomentumBlock(0));
        Assert.Equal(eta, TensorPrimitives.MaxMagnitude(thetaDot), 12);
        Assert.Equal(-eta * TensorPrimitives.SumOfMagnitudes(m), TensorPrimitives.Dot(thetaDot, m), 12);
    }

    [Fact]
    public void SmoothedSign_ApproachesExactSign_AsWidthShrinks()
    {
        double[] s = [3.0, -0.2, 1e-3, 0.0, -5.0];
        var d = new double[s.Length];
        double previous = double.PositiveInfinity;
        foreach (double width in new[] { 1e-1, 1e-2, 1e-3, 1e-4 })
        {
            Directions.Sign(s, width, SignMode.Smooth, d);
            double gap = 0;
            for (int i = 0; i < s.Length; i++)
            {
                if (Math.Abs(s[i]) > 0.1)
                {
                    gap = Math.Max(gap, Math.Abs(d[i] - Math.Sign(s[i])));
                    Assert.Equal(Math.Sign(s[i]), Math.Sign(d[i]));
                }
            }

            Assert.True(gap < previous);
            previous = gap;
        }

        Assert.True(previous < 1e-5); // 1 − r/√(r²+1) ≈ 1/(2r²) with r = 0.2/(1e-4·5) = 400.
    }

    [Fact]
    public void Muon_DirectionHasUnitMspNorm_AndPairsToMinusSnuc()
    {
        (OptimizerFlow flow, double[] y, double[] dy) = At("muon", 1.0);
        double eta = 0.5 * Math.Pow(2.0, -0.8);
        double[] m = Block(flow, y, flow.MomentumBlock(0)).ToArray();
        double pairing = 0, snuc = 0;
        for (int b = 0; b < flow.Parameters.Blocks.Count; b++)
        {
            var shape = flow.Parameters.Blocks[b];
            int o = flow.Parameters.Offset(b);
            var d = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(shape.Rows, shape.Cols, (r, c) => -dy[o + (r * shape.Cols) + c] / eta);
            var mm = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(shape.Rows, shape.Cols, (r, c) => m[o + (r * shape.Cols) + c]);
            Assert.Equal(1.0, d.L2Norm(), 10);
            pairing += d.PointwiseMultiply(mm).Enumerate().Sum();
            snuc += mm.Svd(false).S.Sum();
        }

        Assert.Equal(snuc, pairing, 10);
    }

    [Fact]
    public void AdamRatio_AtTimeZero_IsSignOfGradient()
    {
        (OptimizerFlow flow, double[] _, double[] dy) = At("adam", 0.0);
        for (int i = 0; i < flow.Parameters.Length; i++)
        {
            Assert.Equal(-0.5 * Math.Sign(flow.LastRelativeGradient[i]), dy[i], 15);
        }
    }

    /// <summary>
    /// <see cref="OptimizerFlow.CoordinateScales"/> is the m̃ at which Adam's ratio m̂/√v̂ is one: with every m̃_i set to
    /// r_i (and the log scales off their σ, as after the loss outran the moments), θ′ = −η exactly, at early and late
    /// times (bias corrections far from and close to 1); ṽ's own size is itself; NaN off the moment blocks and where ṽ = 0;
    /// none for a flow without a second moment.
    /// </summary>
    [Theory]
    [InlineData(0.5)]
    [InlineData(3000.0)]
    public void CoordinateScales_AreTheMomentsAtWhichAdamsRatioIsOne(double t)
    {
        (OptimizerFlow flow, double[] y, double[] _) = At("adam", t);
        y[flow.Layout.Offset(flow.MomentumScaleBlock(0))] = -1.3;
        y[flow.Layout.Offset(flow.SecondMomentScaleBlock(0))] = 0.7;
        int mo = flow.Layout.Offset(flow.MomentumBlock(0)), vo = flow.Layout.Offset(flow.SecondMomentBlock(0));
        y[vo + 2] = 0;
        Assert.True(flow.HasCoordinateScales);
        var r = new double[y.Length];
        flow.CoordinateScales(t, y, r);
        for (int i = 0; i < y.Length; i++)
        {
            bool momentum = i >= mo && i < mo + flow.Parameters.Length, second = i >= vo && i < vo + flow.Parameters.Length;
            Assert.True((momentum && i != mo + 2) || (second && i != vo + 2) ? r[i] > 0 : double.IsNaN(r[i]), $"r[{i}] = {r[i]}");
            Assert.True(!second || i == vo + 2 || r[i] == y[i], $"ṽ's size is itself: r[{i}] = {r[i]}, ṽ = {y[i]}");
        }

        for (int i = 0; i < flow.Parameters.Length; i++)
        {
            y[mo + i] = i == 2 ? 0 : r[mo + i];
        }

        var dy = new double[y.Length];
        flow.Evaluate(t, y, dy);
        double eta = flow.Schedules[0].Eta(t);
        for (int i = 0; i < flow.Parameters.Length; i++)
        {
            Assert.Equal(i == 2 ? 0 : -eta, dy[i], 1e-12 * eta);
        }

        (OptimizerFlow momentumFlow, _, _) = At("momentum", t);
        Assert.False(momentumFlow.HasCoordinateScales);
    }

    [Fact]
    public void ScaledMomentumEquation_IsTheUnscaledOne()
    {
        // With m = m̃ e^{λ_m}, v = ṽ e^{λ_v} (λ random here, as after the loss outran the moments):
        // dm/dt = e^{λ_m} (m̃′ + λ_m′ m̃) must equal c1 (g − m) and dv/dt = e^{λ_v} (ṽ′ + λ_v′ ṽ) = c2 (g² − v),
        // g = e^{log L} ∇log L.
        (OptimizerFlow flow, double[] y, double[] dy) = At("adam", 1.0);
        OptimizerPart p = flow.Parts[0];
        int mb = flow.MomentumBlock(0), vb = flow.SecondMomentBlock(0);
        double lambdaM = flow.MomentumLogScale(0, y), lambdaV = flow.SecondMomentLogScale(0, y);
        double lambdaMDot = dy[flow.Layout.Offset(flow.MomentumScaleBlock(0))], lambdaVDot = dy[flow.Layout.Offset(flow.SecondMomentScaleBlock(0))];
        double loss = Math.Exp(flow.LastLogLoss);
        for (int i = 0; i < flow.Parameters.Length; i++)
        {
            double mt = y[flow.Layout.Offset(mb) + i], vt = y[flow.Layout.Offset(vb) + i];
            double mtDot = dy[flow.Layout.Offset(mb) + i] - (p.C1 * mt);
            double vtDot = dy[flow.Layout.Offset(vb) + i] - (p.C2 * vt);
            double g = loss * flow.LastRelativeGradient[i];
            double m = mt * Math.Exp(lambdaM), v = vt * Math.Exp(lambdaV);
            Assert.Equal(p.C1 * (g - m), Math.Exp(lambdaM) * (mtDot + (lambdaMDot * mt)), 1e-12);
            Assert.Equal(p.C2 * ((g * g) - v), Math.Exp(lambdaV) * (vtDot + (lambdaVDot * vt)), 1e-12);
        }

        // σ′ is the chain rule d log L/dt = ⟨∇ log L, dθ/dt⟩.
        double sigmaDot = dy[flow.Parameters.Length];
        Assert.Equal(TensorPrimitives.Dot(flow.LastRelativeGradient, dy.AsSpan(0, flow.Parameters.Length)), sigmaDot, 14);
    }

    [Fact]
    public void LogScaleRate_FollowsTheLoss_UnlessItFallsFasterThanTheMomentumForgets()
    {
        // Tracking (λ = kσ): λ′ = kσ′ whenever kσ′ ≥ −c — the plain scaling m̃ = m e^{−σ}.
        Assert.Equal(-0.05, OptimizerFlow.LogScaleRate(-10, -0.05, -10, 0.1), 15);
        Assert.Equal(0.3, OptimizerFlow.LogScaleRate(-10, 0.3, -10.5, 0.1), 15);

        // The loss falls faster than c: λ′ = −c (the moment's own decay), whatever the gap.
        Assert.Equal(-0.1, OptimizerFlow.LogScaleRate(-10, -5, -10, 0.1), 15);
        Assert.Equal(-0.1, OptimizerFlow.LogScaleRate(-100, -5, -20, 0.1), 15);

        // λ above kσ by more than w = 1 while the loss slows: still −c, so λ comes down to kσ at rate kσ′ + c...
        Assert.Equal(-0.1, OptimizerFlow.LogScaleRate(-100, -0.05, -20, 0.1), 15);

        // ...and within w of it the rate blends continuously into kσ′ (Lipschitz: no switching).
        Assert.Equal(-0.1 + (0.05 * 0.5), OptimizerFlow.LogScaleRate(-10, -0.05, -9.5, 0.1), 15);
    }

    [Fact]
    public void Layout_PutsTheLogScalesLast_AndInitialStateUsesThePlainScaling()
    {
        (OptimizerFlow flow, _, _) = At("muon-adam", 1.0);
        Assert.Equal(["theta", "logL", "m:muon", "m:adam", "v:adam", "logscale:m:muon", "logscale:m:adam", "logscale:v:adam"], flow.Layout.Blocks.Select(b => b.Name));
        var y = new double[flow.Layout.Length];
        flow.InitialState(new double[flow.Parameters.Length].Select((_, i) => 0.1 * (i % 7 - 3)).ToArray(), y);
        double sigma = flow.LogLoss(y);
        Assert.Equal(sigma, flow.MomentumLogScale(0, y));
        Assert.Equal(sigma, flow.MomentumLogScale(1, y));
        Assert.Equal(2 * sigma, flow.SecondMomentLogScale(1, y));
    }

    [Fact]
    public void MuonAdam_HasTwoPartsWithTheirOwnRates()
    {
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(4, 3, 2, 1);
        var parts = OptimizerCatalog.Parts(new OptimizerSpec("muon-adam", 0.1, MuonEta0: 0.2, AdamEta0: 0.05, MuonC: 0.3), oracle.Layout);
        Assert.Equal(2, parts.Count);
        Assert.Equal(("muon", 0.2, 0.3), (parts[0].Name, parts[0].Eta0, parts[0].C1));
        Assert.Equal(("adam", 0.05), (parts[1].Name, parts[1].Eta0));
        var flow = new OptimizerFlow(oracle, parts, 0.8);
        Assert.Equal(["theta", "logL", "m:muon", "m:adam", "v:adam", "logscale:m:muon", "logscale:m:adam", "logscale:v:adam"], flow.Layout.Blocks.Select(b => b.Name));
    }
}
