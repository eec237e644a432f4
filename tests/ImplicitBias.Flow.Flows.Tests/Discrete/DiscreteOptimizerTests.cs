using System.Numerics.Tensors;
using ImplicitBias.Flow.Flows.Discrete;
using ImplicitBias.Flow.Flows.Optimizers;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Flows.Tests.Discrete;

public class DiscreteOptimizerTests
{
    private static readonly double C09 = -Math.Log(0.9);
    private static readonly double C0999 = -Math.Log(0.999);

    private static double[] RandomTheta(int length, int seed, double scale = 0.5)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (rng.NextDouble() - 0.5) * 2 * scale).ToArray();
    }

    private static double RelativeDistance(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => TensorPrimitives.Distance(a, b) / TensorPrimitives.Norm(b);

    [Theory]
    [InlineData("nmomentum", 1.0)]
    [InlineData("adam", 0.7)]
    public void Momentum_EqualsItsClosedForm_OverTheRecordedGradients(string name, double h)
    {
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(10, 3, 4, seed: 5);
        var spec = new OptimizerSpec(name, 0.05, C1: 0.3, C2: 0.05);
        var opt = new DiscreteOptimizer(oracle, OptimizerCatalog.Parts(spec, oracle.Layout), 0.8, 1.0, RandomTheta(oracle.Layout.Length, 5), h);
        var gradients = new List<double[]>();
        const int n = 25;
        for (int k = 1; k <= n; k++)
        {
            // g_k = ∇L(θ_{k−1}) = L · ∇log L, recorded before step k uses it.
            double l = Math.Exp(opt.LogLoss);
            gradients.Add(opt.RelativeGradient.ToArray().Select(r => l * r).ToArray());
            opt.Step();
        }

        // Eq. 19 unrolled from m_0 = 0: m_n = (1 − β) Σ_k β^{n−k} g_k, and v_n = (1 − β2) Σ_k β2^{n−k} g_k².
        double beta = Math.Exp(-0.3 * h), beta2 = Math.Exp(-0.05 * h);
        Assert.Equal(beta, opt.Beta1(0), 15);
        int len = oracle.Layout.Length;
        var m = new double[len];
        var v = new double[len];
        for (int k = 1; k <= n; k++)
        {
            for (int j = 0; j < len; j++)
            {
                double g = gradients[k - 1][j];
                m[j] += (1 - beta) * Math.Pow(beta, n - k) * g;
                v[j] += (1 - beta2) * Math.Pow(beta2, n - k) * g * g;
            }
        }

        double[] stored = opt.MomentumMantissa(0).ToArray().Select(x => x * Math.Exp(opt.MomentumLogScale(0))).ToArray();
        Assert.True(RelativeDistance(stored, m) < 1e-13, $"momentum differs by {RelativeDistance(stored, m)}");

        // The flow-style scaled momentum is m_n / L(θ_n).
        var scaled = new double[len];
        opt.CopyScaledMomentum(0, scaled);
        Assert.True(RelativeDistance(scaled, m.Select(x => x / Math.Exp(opt.LogLoss)).ToArray()) < 1e-13);
        if (name == "adam")
        {
            double[] storedV = opt.SecondMomentMantissa(0).ToArray().Select(x => x * Math.Exp(opt.SecondMomentLogScale(0))).ToArray();
            Assert.True(RelativeDistance(storedV, v) < 1e-13, $"second moment differs by {RelativeDistance(storedV, v)}");
        }
    }

    /// <summary>A plain implementation of the classic optimizers (β = 0.9, β2 = 0.999, η_n = η0 n^{−a}), unscaled.</summary>
    private static double[] Classic(string name, SmallNetworkOracle oracle, double eta0, double a, double epsilon, double[] theta0, int steps)
    {
        int len = theta0.Length;
        double[] theta = theta0.ToArray(), r = new double[len], m = new double[len], v = new double[len], d = new double[len];
        var layout = oracle.Layout;
        for (int n = 1; n <= steps; n++)
        {
            double l = Math.Exp(oracle.Evaluate(theta, r));
            for (int j = 0; j < len; j++)
            {
                double g = l * r[j];
                m[j] = (0.9 * m[j]) + (0.1 * g);
                v[j] = (0.999 * v[j]) + (0.001 * g * g);
            }

            double eta = eta0 * Math.Pow(n, -a);
            switch (name)
            {
                case "gd":
                    for (int j = 0; j < len; j++)
                    {
                        d[j] = l * r[j];
                    }

                    break;
                case "ngd":
                    double gNorm = l * Math.Sqrt(r.Sum(x => x * x));
                    for (int j = 0; j < len; j++)
                    {
                        d[j] = l * r[j] / gNorm;
                    }

                    break;
                case "signgd":
                    for (int j = 0; j < len; j++)
                    {
                        d[j] = Math.Sign(r[j]);
                    }

                    break;
                case "momentum":
                    m.CopyTo(d, 0);
                    break;
                case "nmomentum":
                    double norm = Math.Sqrt(m.Sum(x => x * x));
                    for (int j = 0; j < len; j++)
                    {
                        d[j] = m[j] / norm;
                    }

                    break;
                case "signum":
                    for (int j = 0; j < len; j++)
                    {
                        d[j] = Math.Sign(m[j]);
                    }

                    break;
                case "adam":
                    for (int j = 0; j < len; j++)
                    {
                        d[j] = m[j] / (1 - Math.Pow(0.9, n)) / (Math.Sqrt(v[j] / (1 - Math.Pow(0.999, n))) + epsilon);
                    }

                    break;
                case "muon":
                case "spectral":
                    double[] source = name == "muon" ? m : r;
                    for (int b = 0; b < layout.Blocks.Count; b++)
                    {
                        var block = layout.Blocks[b];
                        int o = layout.Offset(b);
                        var mat = Matrix<double>.Build.Dense(block.Rows, block.Cols, (i, c) => source[o + (i * block.Cols) + c]);
                        var svd = mat.Svd(computeVectors: true);
                        for (int i = 0; i < block.Rows; i++)
                        {
                            for (int c = 0; c < block.Cols; c++)
                            {
                                double sum = 0;
                                for (int k = 0; k < Math.Min(block.Rows, block.Cols); k++)
                                {
                                    sum += svd.U[i, k] * svd.VT[k, c];
                                }

                                d[o + (i * block.Cols) + c] = sum;
                            }
                        }
                    }

                    break;
                default:
                    throw new ArgumentException(name);
            }

            for (int j = 0; j < len; j++)
            {
                theta[j] -= eta * d[j];
            }
        }

        return theta;
    }

    [Theory]
    [InlineData("gd", 0.5)]
    [InlineData("ngd", 0.05)]
    [InlineData("signgd", 0.01)]
    [InlineData("spectral", 0.05)]
    [InlineData("momentum", 0.5)]
    [InlineData("nmomentum", 0.05)]
    [InlineData("signum", 0.01)]
    [InlineData("adam", 0.01)]
    [InlineData("muon", 0.05)]
    public void UnitStep_WithCFromBeta_IsExactlyTheClassicOptimizer(string name, double eta0)
    {
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(12, 4, 5, seed: 11);
        double[] theta0 = RandomTheta(oracle.Layout.Length, 11);
        var spec = new OptimizerSpec(name, eta0, C1: C09, C2: C0999, Epsilon: 1e-20);
        var opt = new DiscreteOptimizer(oracle, OptimizerCatalog.Parts(spec, oracle.Layout), 0.8, 1.0, theta0, stepSize: 1.0);
        if (opt.Parts[0].HasMomentum)
        {
            Assert.Equal(0.9, opt.Beta1(0), 15);
        }

        if (name == "adam")
        {
            Assert.Equal(0.999, opt.Beta2(0), 15);
        }

        const int steps = 20;
        for (int n = 0; n < steps; n++)
        {
            opt.Step();
        }

        double[] expected = Classic(name, oracle, eta0, 0.8, 1e-20, theta0, steps);
        double error = RelativeDistance(opt.Theta, expected);
        Assert.True(error < 1e-12, $"{name}: relative difference {error}");
        Assert.Equal(steps, opt.Time);
    }

    [Fact]
    public void StepSize_SetsBetaAndScalesTheStepBySchedule()
    {
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(8, 3, 4, seed: 2);
        const double h = 0.25, c = 0.4, eta0 = 0.3, a = 0.8, tOff = 2.0;
        var spec = new OptimizerSpec("nmomentum", eta0, C1: c);
        var opt = new DiscreteOptimizer(oracle, OptimizerCatalog.Parts(spec, oracle.Layout), a, tOff, RandomTheta(oracle.Layout.Length, 2), h);
        Assert.Equal(Math.Exp(-c * h), opt.Beta1(0), 15);

        // Step n moves by h η(t_{n−1}) along a unit ℓ2 direction: h η0 t_off^{−a}, then h η0 (h + t_off)^{−a}.
        double[] theta0 = opt.Theta.ToArray();
        double[] g0 = opt.RelativeGradient.ToArray();
        opt.Step();
        Assert.Equal(h * eta0 * Math.Pow(tOff, -a), TensorPrimitives.Distance(opt.Theta, theta0), 14);

        // At n = 1, m_1 = (1 − β) g_1, so the direction is g_1/‖g_1‖ (the flow's t → 0⁺ limit).
        double gNorm = TensorPrimitives.Norm(g0);
        for (int j = 0; j < g0.Length; j++)
        {
            Assert.Equal(g0[j] / gNorm, opt.LastDirection[j], 14);
        }

        double[] theta1 = opt.Theta.ToArray();
        opt.Step();
        Assert.Equal(h * eta0 * Math.Pow(h + tOff, -a), TensorPrimitives.Distance(opt.Theta, theta1), 14);
        Assert.Equal(h * eta0 * Math.Pow(h + tOff, -a), opt.LastStepScale(0), 15);
        Assert.Equal(2 * h, opt.Time);
    }

    [Fact]
    public void MuonAdam_ComposesPerPart_WithEachPartsOwnEta0()
    {
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(10, 3, 4, seed: 4);
        var spec = new OptimizerSpec("muon-adam", 0.05, MuonEta0: 0.2, AdamEta0: 0.01, MuonC: 0.5);
        IReadOnlyList<OptimizerPart> parts = OptimizerCatalog.Parts(spec, oracle.Layout);
        double[] theta0 = RandomTheta(oracle.Layout.Length, 4);
        var opt = new DiscreteOptimizer(oracle, parts, 0.8, 1.0, theta0);
        Assert.Equal(Math.Exp(-0.5), opt.Beta1(0), 15);
        Assert.Equal(0.9, opt.Beta1(1), 12);
        double[] g = opt.RelativeGradient.ToArray();
        opt.Step();

        // W: m_1 ∝ g_W, so W_1 = W_0 − 0.2 · U Vᵀ(g_W), a step of spectral norm 0.2 and Frobenius norm 0.2 √rank.
        int wLength = oracle.Layout.Blocks[0].Length;
        double[] dW = Enumerable.Range(0, wLength).Select(j => (theta0[j] - opt.Theta[j]) / 0.2).ToArray();
        var w = Matrix<double>.Build.Dense(4, 3, (r, c) => dW[(r * 3) + c]);
        Assert.All(w.Svd(false).S.ToArray(), s => Assert.Equal(1.0, s, 12));
        var gw = Matrix<double>.Build.Dense(4, 3, (r, c) => g[(r * 3) + c]);
        Assert.True(w.TransposeThisAndMultiply(gw).Trace() > 0.99 * gw.Svd(false).S.Sum(), "U Vᵀ pairs with g_W to its nuclear norm");

        // u: Adam at n = 1 with ε = 0 is m̂_1/√v̂_1 = g/|g| = sign(g), times η0ᴬ = 0.01.
        for (int j = wLength; j < theta0.Length; j++)
        {
            Assert.Equal(theta0[j] - (0.01 * Math.Sign(g[j])), opt.Theta[j], 15);
        }
    }

    [Fact]
    public void MuonSignum_TakesAPolarStepOnTheMatrix_AndASignStepOnTheRow()
    {
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(10, 3, 4, seed: 6);
        var spec = new OptimizerSpec("muon-signum", 0.02);
        double[] theta0 = RandomTheta(oracle.Layout.Length, 6);
        var opt = new DiscreteOptimizer(oracle, OptimizerCatalog.Parts(spec, oracle.Layout), 0.8, 1.0, theta0);
        double[] g = opt.RelativeGradient.ToArray();
        opt.Step();

        // W (4 × 3): m_1 ∝ g_W, W_1 = W_0 − 0.02 U Vᵀ(g_W), so (W_0 − W_1)/0.02 has all three singular values 1.
        var w = Matrix<double>.Build.Dense(4, 3, (i, c) => (theta0[(i * 3) + c] - opt.Theta[(i * 3) + c]) / 0.02);
        Assert.All(w.Svd(false).S.ToArray(), s => Assert.Equal(1.0, s, 12));

        // u: u_1 = u_0 − 0.02 sign(g_u) (Signum's m_1 = 0.1 g_1 has the sign of g_1).
        int wLength = oracle.Layout.Blocks[0].Length;
        for (int j = wLength; j < theta0.Length; j++)
        {
            Assert.Equal(theta0[j] - (0.02 * Math.Sign(g[j])), opt.Theta[j], 15);
        }
    }

    [Theory]
    [InlineData("adam")]
    [InlineData("signum")]
    [InlineData("ngd")]
    [InlineData("nmomentum")]
    [InlineData("muon")]
    public void ScaledMoments_KeepTheNormalizedOptimizersMoving_FarBelowDoubleUnderflow(string name)
    {
        // Start where log L ≈ −1800: L, g, m and v (∝ L²) are all exactly 0 in double precision, so an unscaled Adam
        // would step by 0/(0 + ε) = 0 and the others by 0/0. Here every step still has its full length η.
        // Margins: x1 = (1, 0.5) gives a = (5, 2.5, 4.5), f = 35 · 51.5 = 1802.5; x2 symmetric; x3 = (1, 1): f = 3010.
        double[] theta0 = [5, 0, 0, 5, 3, 3, 35, 35, 35];
        var oracle = new SmallNetworkOracle([[1.0, 0.5], [0.5, 1.0], [1.0, 1.0]], [1.0, 1.0, 1.0], width: 3);
        // η = 1e-5 keeps log L within a few units of −1801 over the 50 steps (|∇ log L| is of order 10³ here).
        // Adam with ε = 0, the theory's (with ε > 0 Adam genuinely stalls once L ≪ ε: see the next test).
        var spec = new OptimizerSpec(name, 1e-5, C1: C09, C2: C0999, Epsilon: 0);
        var opt = new DiscreteOptimizer(oracle, OptimizerCatalog.Parts(spec, oracle.Layout), 0.0, 1.0, theta0);
        Assert.InRange(opt.LogLoss, -1802, -1801);
        var previous = new double[theta0.Length];
        for (int n = 0; n < 50; n++)
        {
            opt.Theta.CopyTo(previous);
            opt.Step();
            Assert.True(TensorPrimitives.Distance(opt.Theta, previous) > 5e-6, $"step {n + 1} of {name} did not move");
        }

        Assert.InRange(opt.LogLoss, -1900, -1700);
        double largest = Math.Abs(TensorPrimitives.MaxMagnitude(opt.LastDirection));
        Assert.InRange(largest, 0.3, 1.0 + 1e-12);
        if (opt.Parts[0].HasMomentum)
        {
            // m_n / L(θ_n) is of the order of ∇ log L, which is what the flow's m̃ = m e^{−σ} is too.
            var scaled = new double[theta0.Length];
            opt.CopyScaledMomentum(0, scaled);
            double ratio = TensorPrimitives.Norm(scaled) / TensorPrimitives.Norm(opt.RelativeGradient);
            Assert.InRange(ratio, 0.5, 2.0);
        }
    }

    [Theory]
    [InlineData(40.0, 1e-20)]
    [InlineData(1000.0, 1e-20)]
    [InlineData(1000.0, 1e-300)]
    public void AdamEpsilon_EntersRelativeToTheLoss(double theta1, double epsilon)
    {
        // One sample x = (1, 0.5), y = +1: log L = −⟨θ, x⟩ and ∇log L = −x exactly. At n = 1, m̂ = g and v̂ = g², so
        // d_j = g_j/(|g_j| + ε) = −x_j/(x_j + ε/L) with ε/L = ε e^{−log L}: at log L = −46 (L ≈ 1.05e-20) ε = 1e-20 is
        // comparable to the gradient; at log L = −1006 any ε > 0 dwarfs it and the step is (to double precision) 0.
        var oracle = new SmallNetworkOracle([[1.0, 0.5]], [1.0], width: 0);
        var spec = new OptimizerSpec("adam", 0.1, C1: C09, C2: C0999, Epsilon: epsilon);
        var opt = new DiscreteOptimizer(oracle, OptimizerCatalog.Parts(spec, oracle.Layout), 0.8, 1.0, [theta1, 12.0]);
        double logLoss = -(theta1 + 6);
        Assert.Equal(logLoss, opt.LogLoss, 12);
        opt.Step();
        for (int j = 0; j < 2; j++)
        {
            // −x_j/(x_j + ε/L) = −1/(1 + e^{κ}) with κ = log(ε/L) − log x_j, written as −e^{−κ}/(1 + e^{−κ}) for κ > 0.
            double kappa = Math.Log(epsilon) - logLoss - Math.Log(j == 0 ? 1.0 : 0.5);
            double expected = kappa > 0 ? -Math.Exp(-kappa) / (1 + Math.Exp(-kappa)) : -1 / (1 + Math.Exp(kappa));
            double actual = opt.LastDirection[j];
            Assert.True(expected == 0 ? actual == 0 : Math.Abs((actual / expected) - 1) < 1e-10, $"[{j}] expected {expected:R}, got {actual:R}");
        }
    }

    [Fact]
    public void Gd_StallsAsTheLossUnderflows_ThatIsTheOptimizer()
    {
        // Raw GD steps are η L ∇log L: with log L ≈ −800 the step e^{−800} is exactly 0 in double precision.
        var oracle = new SmallNetworkOracle([[1.0, 0.0]], [1.0], width: 0);
        var spec = new OptimizerSpec("gd", 1.0);
        var opt = new DiscreteOptimizer(oracle, OptimizerCatalog.Parts(spec, oracle.Layout), 0.0, 1.0, [800.0, 0.0]);
        opt.Step();
        Assert.Equal(800.0, opt.Theta[0]);
        Assert.Equal(-800.0, opt.LogLoss, 10);
    }

    [Fact]
    public void Run_CallsBackAtStartAndEveryStep_AndStopsOnMaxSteps()
    {
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(8, 3, 4, seed: 8);
        var spec = new OptimizerSpec("signum", 0.01);
        var times = new List<double>();
        DiscreteRunResult result = DiscreteOptimizer.Run(oracle, OptimizerCatalog.Parts(spec, oracle.Layout), 0.8, 1.0, RandomTheta(oracle.Layout.Length, 8), 0.5, 6, double.NegativeInfinity, o => times.Add(o.Time));
        Assert.Equal(DiscreteStopReason.MaxSteps, result.Reason);
        Assert.Equal([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0], times);
        Assert.Equal(7, result.Optimizer.GradientEvaluations);
    }

    [Theory]
    [InlineData("adam", PolarMethod.Exact)]
    [InlineData("signum", PolarMethod.Exact)]
    [InlineData("nmomentum", PolarMethod.Exact)]
    [InlineData("muon", PolarMethod.NewtonSchulz)]
    [InlineData("muon-adam", PolarMethod.NewtonSchulz)]
    public void Step_DoesNotAllocate(string name, PolarMethod polar)
    {
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(10, 4, 5, seed: 9);
        var spec = new OptimizerSpec(name, 0.01);
        var opt = new DiscreteOptimizer(oracle, OptimizerCatalog.Parts(spec, oracle.Layout), 0.8, 1.0, RandomTheta(oracle.Layout.Length, 9), 1.0, polar);
        for (int n = 0; n < 20; n++)
        {
            opt.Step();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int n = 0; n < 50; n++)
        {
            opt.Step();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Constructor_RejectsPartsThatDoNotCoverTheBlocks_AndABadStep()
    {
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(4, 3, 2, seed: 1);
        var ngd = new OptimizerPart(OptimizerRegistry.Get("ngd"), 0, 1, 0.1);
        double[] theta0 = new double[oracle.Layout.Length];
        Assert.Throws<ArgumentException>(() => new DiscreteOptimizer(oracle, [ngd], 0.8, 1.0, theta0));
        var all = OptimizerCatalog.Parts(new OptimizerSpec("ngd", 0.1), oracle.Layout);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DiscreteOptimizer(oracle, all, 0.8, 1.0, theta0, stepSize: 0));
        var noDecay = OptimizerCatalog.Parts(new OptimizerSpec("signum", 0.1, C1: 0), oracle.Layout);
        Assert.Throws<ArgumentException>(() => new DiscreteOptimizer(oracle, noDecay, 0.8, 1.0, theta0));
    }
}
