using Complex = System.Numerics.Complex;
using ImplicitBias.Flow.Analysis.Diagnostics;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Solvers.Methods;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Analysis.Tests.Diagnostics;

/// <summary>The Krylov diagnostics against operators whose spectra are known.</summary>
public sealed class SpectrumTests
{
    /// <summary>L(θ) = ½ θᵀ A θ in the log domain: log L and ∇ log L = A θ / L.</summary>
    private sealed class QuadraticOracle(Matrix<double> a, ParameterLayout layout) : IGradientOracle
    {
        public ParameterLayout Layout { get; } = layout;

        public double Evaluate(ReadOnlySpan<double> theta, Span<double> relativeGradient)
        {
            Vector<double> x = Vector<double>.Build.DenseOfArray(theta.ToArray());
            Vector<double> ax = a * x;
            double loss = 0.5 * x.DotProduct(ax);
            for (int i = 0; i < theta.Length; i++)
            {
                relativeGradient[i] = ax[i] / loss;
            }

            return Math.Log(loss);
        }
    }

    /// <summary>Q diag(spectrum) Q⁻¹ with a 2 × 2 rotation block for a ± ib, Q random and well conditioned.</summary>
    private static Matrix<double> WithSpectrum(double[] real, (double A, double B) pair, int seed)
    {
        int n = real.Length + 2;
        var d = Matrix<double>.Build.Dense(n, n);
        for (int i = 0; i < real.Length; i++)
        {
            d[i, i] = real[i];
        }

        d[n - 2, n - 2] = d[n - 1, n - 1] = pair.A;
        d[n - 2, n - 1] = -pair.B;
        d[n - 1, n - 2] = pair.B;
        var random = new Random(seed);
        Matrix<double> q = Matrix<double>.Build.Dense(n, n, (r, c) => (r == c ? 2.0 : 0.0) + (0.3 * (random.NextDouble() - 0.5)));
        return q * d * q.Inverse();
    }

    private static Matrix<double> SymmetricWithSpectrum(double[] spectrum, int seed)
    {
        int n = spectrum.Length;
        var random = new Random(seed);
        Matrix<double> g = Matrix<double>.Build.Dense(n, n, (_, _) => random.NextDouble() - 0.5);
        Matrix<double> q = g.QR().Q;
        return q * Matrix<double>.Build.DenseOfDiagonalArray(spectrum) * q.Transpose();
    }

    [Fact]
    public void ArnoldiFindsTheLargestEigenvaluesIncludingAComplexPair()
    {
        double[] real = Enumerable.Range(0, 38).Select(i => -0.01 * (i + 1)).Append(-5.0).ToArray();
        Matrix<double> a = WithSpectrum(real, (-1.0, 8.0), seed: 3);
        IReadOnlyList<RitzPair> pairs = Krylov.LargestMagnitude((x, y) => Apply(a, x, y), a.RowCount, 3, 30);

        // |−1 ± 8i| = 8.06 > |−5|.
        Assert.Equal(8.0, Math.Abs(pairs[0].Value.Imaginary), 8);
        Assert.Equal(-1.0, pairs[0].Value.Real, 8);
        Assert.Equal(-pairs[0].Value.Imaginary, pairs[1].Value.Imaginary, 8);
        Assert.Equal(-5.0, pairs[2].Value.Real, 8);
        Assert.Equal(0.0, pairs[2].Value.Imaginary, 8);
        Assert.True(pairs[2].Residual < 1e-6, $"residual {pairs[2].Residual}");
    }

    private static void Apply(Matrix<double> a, ReadOnlySpan<double> x, Span<double> y)
    {
        Vector<double> r = a * Vector<double>.Build.DenseOfArray(x.ToArray());
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = r[i];
        }
    }

    [Fact]
    public void LinearFieldEigenvaluesAndTheirBlocks()
    {
        // y′ = A y on two blocks; the slow block is a coupled 20 × 20 system with eigenvalues in [−1, −0.05], the
        // fast block has −40 and the oscillating pair −0.5 ± 12i. The state has very different scales per block.
        double[] slowSpectrum = Enumerable.Range(0, 20).Select(i => -0.05 - (0.05 * i)).ToArray();
        Matrix<double> slow = WithSpectrum(slowSpectrum[..18], (-0.3, 0.2), seed: 5);
        Matrix<double> fast = WithSpectrum([-40.0, -0.2, -0.1], (-0.5, 12.0), seed: 7);
        int ns = slow.RowCount, nf = fast.RowCount;
        var layout = new StateLayout([new StateBlock("slow", ns, 1e-6, 1e-9), new StateBlock("fast", nf, 1e-6, 1e-9)]);
        var y = Enumerable.Range(0, ns + nf).Select(i => i < ns ? 1e3 * (1 + (0.1 * i)) : 1e-4 * (1 + i)).ToArray();
        VectorField field = (_, state, dydt) =>
        {
            Vector<double> s = slow * Vector<double>.Build.DenseOfArray(state[..ns].ToArray());
            Vector<double> f = fast * Vector<double>.Build.DenseOfArray(state[ns..].ToArray());
            for (int i = 0; i < ns; i++)
            {
                dydt[i] = s[i];
            }

            for (int i = 0; i < nf; i++)
            {
                dydt[ns + i] = f[i];
            }
        };

        IReadOnlyList<FlowMode> modes = FlowJacobianSpectrum.Compute(field, layout, 0, y, new SpectrumOptions(Count: 3, KrylovDimension: ns + nf));
        Assert.Equal(-40.0, modes[0].Eigenvalue.Real, 6);
        Assert.Equal(12.0, Math.Abs(modes[1].Eigenvalue.Imaginary), 6);
        Assert.Equal(-0.5, modes[2].Eigenvalue.Real, 6);
        Assert.All(modes, m => Assert.Equal("fast", m.MainBlock));
        Assert.All(modes, m => Assert.True(m.BlockShares[0].Share > 1 - 1e-8, $"{m.Eigenvalue}: {m.BlockShares[0].Share}"));
        Assert.Equal("fast", modes[0].Top[0].Block);
    }

    [Fact]
    public void GradientFlowJacobianIsMinusEtaTimesTheHessian()
    {
        // GD on L = ½ θᵀ A θ: θ′ = −η A θ, σ′ = ⟨∇log L, θ′⟩ does not depend on σ, so spec J = spec(−η A) ∪ {0}.
        double[] spectrum = Enumerable.Range(0, 12).Select(i => 0.1 * (i + 1)).Append(7.0).ToArray();
        Matrix<double> a = SymmetricWithSpectrum(spectrum, seed: 11);
        var layout = new ParameterLayout([new ParameterBlock("u", 1, a.RowCount, IsMatrix: false)]);
        var parts = new[] { new OptimizerPart(OptimizerRegistry.Get("gd"), 0, 1, 0.5) };
        var flow = new OptimizerFlow(new QuadraticOracle(a, layout), parts, power: 0.8);
        double t = 3;
        double eta = 0.5 * Math.Pow(t + 1, -0.8);
        var theta = Enumerable.Range(0, a.RowCount).Select(i => 1.0 + (0.1 * i)).ToArray();
        var y = new double[flow.Layout.Length];
        flow.InitialState(theta, y);

        IReadOnlyList<FlowMode> modes = FlowJacobianSpectrum.Compute(flow, t, y, new SpectrumOptions(Count: 2, KrylovDimension: 14));
        Assert.Equal(-eta * 7.0, modes[0].Eigenvalue.Real, 6);
        Assert.Equal(-eta * 1.2, modes[1].Eigenvalue.Real, 6);
        Assert.Equal("theta", modes[0].MainBlock);
        Assert.StartsWith("u[", modes[0].Top[0].Parameter, StringComparison.Ordinal);

        SharpnessResult s = PreconditionedSharpness.Compute(flow, t, y)!;
        Assert.Equal(7.0, s.Largest, 5);
        Assert.Equal(0.1, s.Smallest, 5);
        Assert.Equal(2 / eta, s.Threshold, 12);
    }

    [Fact]
    public void AdamSharpnessIsTheLargestEigenvalueOfDiagonallyPreconditionedHessian()
    {
        double[] spectrum = Enumerable.Range(0, 15).Select(i => 0.2 * (i + 1)).ToArray();
        Matrix<double> a = SymmetricWithSpectrum(spectrum, seed: 13);
        int n = a.RowCount;
        var layout = new ParameterLayout([new ParameterBlock("u", 1, n, IsMatrix: false)]);
        IReadOnlyList<OptimizerPart> parts = OptimizerCatalog.Parts(new OptimizerSpec("adam", 0.02), layout);
        var flow = new OptimizerFlow(new QuadraticOracle(a, layout), parts, power: 0.8);
        var theta = Enumerable.Range(0, n).Select(i => 1.0 - (0.05 * i)).ToArray();
        var y = new double[flow.Layout.Length];
        flow.InitialState(theta, y);
        int vo = flow.Layout.Offset(flow.SecondMomentBlock(0));
        for (int i = 0; i < n; i++)
        {
            y[vo + i] = 0.01 * (1 + (i * i));
        }

        double t = 500;
        SharpnessResult s = PreconditionedSharpness.Compute(flow, t, y, dimension: n)!;

        // P⁻¹ ∇²L with ∇²L = A, P = (1 − e^{−c1 t}) √v̂ and v = ṽ e^{λ_v} (λ_v = 2 log L(θ0) here).
        double loss = Math.Exp(flow.LogLoss(y));
        double c1 = parts[0].C1, c2 = parts[0].C2;
        double bias1 = 1 - Math.Exp(-c1 * t), bias2 = 1 - Math.Exp(-c2 * t);
        Vector<double> p = Vector<double>.Build.Dense(n, i => bias1 * loss * Math.Sqrt(y[vo + i] / bias2));
        Matrix<double> pa = Matrix<double>.Build.DenseOfDiagonalVector(p.Map(x => 1 / x)) * a;
        double expected = pa.Evd().EigenValues.Select(z => z.Real).Max();
        Assert.Equal(expected, s.Largest, expected * 1e-6);
        double beta1 = Math.Exp(-c1);
        Assert.Equal((2 + (2 * beta1)) / ((1 - beta1) * flow.Schedules[0].Eta(t)), s.Threshold, 1e-9);
    }

    /// <summary>
    /// Late in a run a weight whose gradient has long been tiny keeps a second moment of the gradient's size squared, so
    /// P⁻¹ = 1/√v̂ spans tens of decades (on MNIST at t = 2e5 D^{1/2} ran from 45 to 3.6e24, and the sharpness came out
    /// 218 where it is 5.5e6). Here ∇²L = S Â S with S = diag(1, …, 1, 1e-10, 1e-20, 1e-30, 1e-40) and ṽ ∝ S², as a
    /// gradient ∝ S makes it: D^{1/2} spans 20 decades, yet P⁻¹∇²L is well scaled and its largest eigenvalue is
    /// known from the symmetric P^{−1/2} ∇²L P^{−1/2}, whose entries are all of order one or smaller.
    /// </summary>
    [Fact]
    public void AdamSharpness_StaysRightWhenTheSecondMomentsSpanTwentyDecades()
    {
        const int n = 12;
        Matrix<double> aHat = SymmetricWithSpectrum(Enumerable.Range(0, n).Select(i => 0.5 + (0.25 * i)).ToArray(), seed: 21);
        double[] scale = Enumerable.Range(0, n).Select(i => i < 8 ? 1.0 : Math.Pow(10, -10 * (i - 7))).ToArray();
        Matrix<double> a = Matrix<double>.Build.Dense(n, n, (i, k) => scale[i] * aHat[i, k] * scale[k]);
        var layout = new ParameterLayout([new ParameterBlock("u", 1, n, IsMatrix: false)]);
        IReadOnlyList<OptimizerPart> parts = OptimizerCatalog.Parts(new OptimizerSpec("adam", 0.02), layout);
        var flow = new OptimizerFlow(new QuadraticOracle(a, layout), parts, power: 0.8);
        double[] theta = Enumerable.Range(0, n).Select(i => 1.0 - (0.05 * i)).ToArray();
        var y = new double[flow.Layout.Length];
        flow.InitialState(theta, y);
        int vo = flow.Layout.Offset(flow.SecondMomentBlock(0));
        for (int i = 0; i < n; i++)
        {
            y[vo + i] = 0.01 * (1 + i) * scale[i] * scale[i];
        }

        double t = 500;
        SharpnessResult s = PreconditionedSharpness.Compute(flow, t, y, dimension: n)!;

        double loss = Math.Exp(flow.LogLoss(y));
        double c1 = parts[0].C1, c2 = parts[0].C2;
        double bias1 = 1 - Math.Exp(-c1 * t), bias2 = 1 - Math.Exp(-c2 * t);
        // P_i = bias1 · loss · √(ṽ_i / bias2) = scale_i · p_i; P^{−1/2} ∇²L P^{−1/2} = diag(√(scale/p)) Â diag(√(scale/p)).
        double[] w = Enumerable.Range(0, n).Select(i => Math.Sqrt(scale[i] / (bias1 * loss * Math.Sqrt(0.01 * (1 + i) / bias2)))).ToArray();
        Matrix<double> b = Matrix<double>.Build.Dense(n, n, (i, k) => w[i] * aHat[i, k] * w[k]);
        double expected = b.Evd(Symmetricity.Symmetric).EigenValues.Select(z => z.Real).Max();
        Assert.True(expected > 0.1, $"expected {expected}");
        Assert.Equal(expected, s.Largest, expected * 1e-6);
    }

    /// <summary>
    /// The θ–m̃ mode of the linearized Adam flow against its prediction, with m̃ from 1e-4 down to 1e-9 of θ's size. In the
    /// block scales alone (m̃ against its own block's size) the scaled Jacobian carried the coupling 1/√ṽ as entries of
    /// 1e±9 at 1e-9, and round-off moved this eigenvalue by 5 %; in the balanced scales (m̃_i against the size at which
    /// m̂_i/√v̂_i = 1) it is right to 1e-4 at both.
    /// </summary>
    [Theory]
    [InlineData(1e-4)]
    [InlineData(1e-9)]
    public void AdamThetaMomentumModeHasTheFrequencyTheSharpnessPredicts(double momentumSize)
    {
        // Linearized Adam flow: θ′ = −η P⁻¹ m, m′ = c1 (∇L − m) gives μ² + c1 μ + c1 s = 0 per eigenvalue s of η P⁻¹∇²L.
        // With ṽ uniform, P⁻¹∇²L = d A; θ along A's softest eigenvector keeps ∇L ⟂ the stiffest one, whose mode
        // then decouples from σ and the log scales, and a small m̃ decouples ṽ.
        double[] spectrum = Enumerable.Range(0, 10).Select(i => 0.1 * (i + 1)).Append(7.0).ToArray();
        int n = spectrum.Length;
        var random = new Random(17);
        Matrix<double> q = Matrix<double>.Build.Dense(n, n, (_, _) => random.NextDouble() - 0.5).QR().Q;
        Matrix<double> a = q * Matrix<double>.Build.DenseOfDiagonalArray(spectrum) * q.Transpose();
        var layout = new ParameterLayout([new ParameterBlock("u", 1, n, IsMatrix: false)]);
        IReadOnlyList<OptimizerPart> parts = OptimizerCatalog.Parts(new OptimizerSpec("adam", 0.5), layout);
        var flow = new OptimizerFlow(new QuadraticOracle(a, layout), parts, power: 0.8);
        double[] theta = q.Column(0).ToArray();
        var y = new double[flow.Layout.Length];
        flow.InitialState(theta, y);
        int mo = flow.Layout.Offset(flow.MomentumBlock(0)), vo = flow.Layout.Offset(flow.SecondMomentBlock(0));
        for (int i = 0; i < n; i++)
        {
            y[mo + i] = momentumSize * (i + 1);
            y[vo + i] = 0.04;
        }

        const double t = 200;
        (IReadOnlyList<FlowMode> modes, double s) = ModeAgainstItsPrediction(flow, t, y);
        Assert.Contains(modes[0].MainBlock, new[] { "theta", "m:adam" });
        Assert.True(modes[0].BlockShares.Where(b => b.Block is "theta" or "m:adam").Sum(b => b.Share) > 0.99);

        SharpnessResult sharpness = PreconditionedSharpness.Compute(flow, t, y)!;
        Assert.Equal(s, flow.Schedules[0].Eta(t) * sharpness.Largest, 1e-5 * s);
    }

    /// <summary>
    /// Late in an Adam run a weight whose gradient has long been tiny (an input pixel that is almost always zero) keeps
    /// ṽ tens of decades below its block, and m̃ with it: on MNIST at t = 2e5 the Jacobian's eigenvalues came out
    /// ±3.5e26 on such weights, where the top mode is −0.053 ± 0.40i. Here A = diag(A1, S Â2 S): A1 as in the test
    /// above, and four coordinates at curvature scale S = 1e-10 … 1e-40 with θ = 0 there (no gradient now), ṽ = 0.04 S²
    /// and m̃ = 1e-3 S (what is left of an old gradient). Those four only add modes near −c1 and 0 (their η P⁻¹∇²L is of
    /// order S), so the leading pair must still be A1's, as predicted.
    /// </summary>
    [Fact]
    public void AdamThetaMomentumMode_StaysRightWhenSomeSecondMomentsAreDecadesBelowTheRest()
    {
        double[] spectrum = Enumerable.Range(0, 7).Select(i => 0.1 * (i + 1)).Append(7.0).ToArray();
        int n1 = spectrum.Length, n = n1 + 4;
        var random = new Random(17);
        Matrix<double> q = Matrix<double>.Build.Dense(n1, n1, (_, _) => random.NextDouble() - 0.5).QR().Q;
        Matrix<double> a1 = q * Matrix<double>.Build.DenseOfDiagonalArray(spectrum) * q.Transpose();
        Matrix<double> a2Hat = SymmetricWithSpectrum([0.5, 1, 2, 3], seed: 5);
        double[] tiny = [1e-10, 1e-20, 1e-30, 1e-40];
        Matrix<double> a = Matrix<double>.Build.Dense(n, n);
        a.SetSubMatrix(0, 0, a1);
        a.SetSubMatrix(n1, n1, Matrix<double>.Build.Dense(4, 4, (i, k) => tiny[i] * a2Hat[i, k] * tiny[k]));
        var layout = new ParameterLayout([new ParameterBlock("u", 1, n, IsMatrix: false)]);
        IReadOnlyList<OptimizerPart> parts = OptimizerCatalog.Parts(new OptimizerSpec("adam", 0.5), layout);
        var flow = new OptimizerFlow(new QuadraticOracle(a, layout), parts, power: 0.8);
        double[] theta = q.Column(0).ToArray().Concat(new double[4]).ToArray();
        var y = new double[flow.Layout.Length];
        flow.InitialState(theta, y);
        int mo = flow.Layout.Offset(flow.MomentumBlock(0)), vo = flow.Layout.Offset(flow.SecondMomentBlock(0));
        for (int i = 0; i < n; i++)
        {
            double size = i < n1 ? 1.0 : tiny[i - n1];
            y[mo + i] = 1e-4 * (i + 1) * size;
            y[vo + i] = 0.04 * size * size;
        }

        ModeAgainstItsPrediction(flow, 200, y);
    }

    /// <summary>
    /// The leading pair of the Adam flow's Jacobian at (t, y) against −c1/2 ± i√(c1 s − c1²/4), s = η·7/p the top
    /// eigenvalue of η P⁻¹∇²L for the stiffest eigenvalue 7 of the tests' A and ṽ = 0.04 on it; returns the modes and s.
    /// </summary>
    private static (IReadOnlyList<FlowMode> Modes, double S) ModeAgainstItsPrediction(OptimizerFlow flow, double t, double[] y)
    {
        double c1 = flow.Parts[0].C1, c2 = flow.Parts[0].C2;
        double loss = Math.Exp(flow.LogLoss(y));
        double p = (1 - Math.Exp(-c1 * t)) * loss * Math.Sqrt(0.04 / (1 - Math.Exp(-c2 * t)));
        double s = flow.Schedules[0].Eta(t) * 7.0 / p;
        var expected = new Complex(-c1 / 2, Math.Sqrt((c1 * s) - (c1 * c1 / 4)));

        IReadOnlyList<FlowMode> modes = FlowJacobianSpectrum.Compute(flow, t, y, new SpectrumOptions(Count: 2, KrylovDimension: 40));
        Assert.True(s > 1, $"s = {s}: not in the oscillating regime this test is about");
        Assert.Equal(expected.Real, modes[0].Eigenvalue.Real, 1e-4 * expected.Magnitude);
        Assert.Equal(expected.Imaginary, Math.Abs(modes[0].Eigenvalue.Imaginary), 1e-4 * expected.Magnitude);
        Assert.Equal(-modes[0].Eigenvalue.Imaginary, modes[1].Eigenvalue.Imaginary, 1e-8 * expected.Magnitude);
        return (modes, s);
    }

    [Fact]
    public void StabilityOfTheThetaMomentumPairMatchesKnownRegions()
    {
        // c1 → 0 with c1 s = 1: the pair is ±i, and the classical RK4 is stable on the imaginary axis up to 2√2.
        double rk4 = StepperStability.LargestStableStep(MethodCatalog.Find("rk4")!, 1e-8, 1e8);
        Assert.Equal(2 * Math.Sqrt(2), rk4, 1e-4);

        // Forward Euler never is (up to the damping and the 1e-12 round-off allowance on the radius: h ≈ 1e-6).
        Assert.True(StepperStability.LargestStableStep(MethodCatalog.Find("euler")!, 1e-8, 1e8) < 1e-5);

        // s = 0: the decay of m is exact in ETDRK4 and x′ = −y is then a quadrature, stable for every h.
        Assert.Equal(double.PositiveInfinity, StepperStability.LargestStableStep(MethodCatalog.Find("etdrk4")!, 0.1, 0, hMax: 1e3));

        // The amplification of an exact step is e^{−c1 h/2} for the oscillating pair; rk4 is close at small h.
        double c1 = 0.1, s = 10, h = 0.05;
        Assert.Equal(Math.Exp(-c1 * h / 2), StepperStability.AmplificationRadius(MethodCatalog.Find("rk4")!, c1, s, h), 1e-7);
    }

    [Fact]
    public void Sharpness_TakesThePreconditionerTheDefinitionStates()
    {
        Matrix<double> a = SymmetricWithSpectrum([0.5, 1.0, 3.0], seed: 5);
        var layout = new ParameterLayout([new ParameterBlock("u", 1, 3, IsMatrix: false)]);
        double[] theta = [1.0, -0.5, 0.25];
        SharpnessResult? Sharpness(OptimizerDefinition definition)
        {
            var flow = new OptimizerFlow(new QuadraticOracle(a, layout), [new OptimizerPart(definition, 0, 1, 0.5)], power: 0.8);
            var y = new double[flow.Layout.Length];
            flow.InitialState(theta, y);
            return PreconditionedSharpness.Compute(flow, 2, y, dimension: 3);
        }

        // GD's geometry with the definition's word changed: the diagnosis follows the word, not the geometry.
        OptimizerDefinition gd = OptimizerRegistry.Get("gd");
        Assert.Equal("I", Sharpness(gd)!.Preconditioner);
        Assert.Null(Sharpness(gd with { Name = "gd-undiagnosed", Preconditioner = PreconditionerKind.None }));
        SharpnessResult normalized = Sharpness(gd with { Name = "gd-normalized", Preconditioner = PreconditionerKind.GradientNorm })!;
        Assert.Equal("‖∇L‖₂", normalized.Preconditioner);
        Assert.Equal(2 / normalized.Eta, normalized.Threshold, 12);

        // The built-in optimizers with a preconditioner are GD, momentum GD, NGD and Adam.
        Assert.Equal(["adam", "gd", "momentum", "ngd"], OptimizerRegistry.All.Where(d => d.Preconditioner != PreconditionerKind.None).Select(d => d.Name).Order());
    }
}
