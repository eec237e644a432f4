using ImplicitBias.Flow.Analysis.Kkt;
using ImplicitBias.Flow.Core.Geometry;
using ImplicitBias.Flow.Core.Parameters;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Analysis.Tests.Kkt;

/// <summary>
/// Linear predictors (D = 1, f(x; θ) = ⟨θ, x⟩, L = 1), whose J_i = y_i x_i do not depend on θ and whose
/// max-margin solutions are known in closed form.
/// </summary>
public class KktCertificateTests
{
    private static (Matrix<double> J, double[] Margins, ParameterLayout Layout) Linear(double[,] signedInputs, double[] theta)
    {
        Matrix<double> j = Matrix<double>.Build.DenseOfArray(signedInputs);
        double[] q = (j * Vector<double>.Build.DenseOfArray(theta)).ToArray();
        return (j, q, ParameterLayout.FullyConnected(theta.Length, []));
    }

    // One sample y x = (1, 0.5).
    // ℓ2: θ̃ = x/‖x‖² = (0.8, 0.4), λ = 0.8. ℓ∞: θ̃ = (2/3, 2/3), k = (2/3)(μ1, μ2), λ (1, 0.5) = k gives
    // λ = 4/9, μ = (2/3, 1/3). Cross-checks: ℓ∞ at (0.8, 0.4) has only coordinate 1 active, so
    // ε = min_λ ‖λ(1, 0.5) − (0.8, 0)‖ = ‖(0.64, 0.32) − (0.8, 0)‖ = 0.16√5; ℓ2 at (2/3, 2/3) gives
    // ε = ‖θ̃ − 0.8 x‖ = ‖(−2/15, 4/15)‖ = (2/15)√5.
    private static readonly double[,] OneSample = { { 1, 0.5 } };

    [Fact]
    public void OneSample_L2Solution_IsL2KktButNotLInfKkt()
    {
        double[] theta = [0.8, 0.4];
        var (j, q, layout) = Linear(OneSample, theta);
        IReadOnlyList<KktResult> all = KktCertificate.ComputeAll(theta, layout, j, q);
        KktResult l2 = all[0], linf = all[1], msp = all[2];
        Assert.Equal("l2", l2.Norm);
        Assert.True(l2.Epsilon <= 1e-8, $"ε = {l2.Epsilon}");
        Assert.Equal(0.8, l2.Lambda[0], 8); // the 1e-10 ridge shifts λ slightly
        Assert.Equal(0, l2.Delta, 10);
        Assert.Equal(1, l2.ActiveCount);
        Assert.Equal(0.16 * Math.Sqrt(5), linf.Epsilon, 10);
        Assert.Equal(1, linf.ActiveCount);
        Assert.Equal(0.8, linf.NormValue, 14);
        // On a linear predictor the single output row is a 1×d matrix: msp = ℓ2.
        Assert.True(msp.Epsilon <= 1e-8);
        Assert.Equal(Math.Sqrt(0.8), msp.NormValue, 14);
        Assert.Equal(KktCertificate.DefaultActiveTolerance, linf.ActiveTolerance);
    }

    [Fact]
    public void OneSample_LInfSolution_IsLInfKktButNotL2Kkt()
    {
        double[] theta = [2.0 / 3, 2.0 / 3];
        var (j, q, layout) = Linear(OneSample, theta);
        KktResult linf = KktCertificate.Compute(KktNorm.LInf, theta, layout, j, q);
        KktResult l2 = KktCertificate.Compute(KktNorm.L2, theta, layout, j, q);
        Assert.True(linf.Converged);
        Assert.True(linf.Epsilon <= 1e-8, $"ε = {linf.Epsilon}");
        Assert.Equal(2, linf.ActiveCount);
        Assert.Equal(4.0 / 9, linf.Lambda[0], 8);
        Assert.Equal([2.0 / 3, 1.0 / 3], linf.Mu, (a, b) => Math.Abs(a - b) < 1e-10);
        Assert.Equal(2.0 / 15 * Math.Sqrt(5), l2.Epsilon, 10);
    }

    // Three samples y_i x_i = (1, 0.5), (0.5, 1), (1, 0.25).
    // ℓ2: with samples 2 and 3 active, 0.5θ1 + θ2 = 1 and θ1 + 0.25θ2 = 1 give θ̃ = (6/7, 4/7); sample 1 has
    // margin 8/7 ≥ 1, and θ̃ = λ2 (0.5, 1) + λ3 (1, 0.25) with λ2 = 20/49, λ3 = 32/49 ≥ 0, so it is the
    // (unique, convex problem) ℓ2 solution. ℓ∞: θ1 + 0.25θ2 ≥ 1 with |θ_j| ≤ c needs c ≥ 0.8, and c = 0.8
    // forces θ̃ = (0.8, 0.8) (margins 1.2, 1.2, 1): k = 0.8(μ1, μ2) = λ3 (1, 0.25) with λ3 = 0.64,
    // μ = (0.8, 0.2). At the ℓ2 solution only coordinate 1 attains ‖θ̃‖∞, k = (6/7, 0), and every J_i has a
    // positive second entry, so ε∞ > 0. At the ℓ∞ solution (0.8, 0.8) lies in the cone of the J_i's, so
    // ε₂ = 0, but every such λ needs λ1 or λ2 > 0 (J_3 alone points along (1, 0.25)) on samples with margin
    // 1.2: the smallest δ with ε₂ = 0 is 0.2 λ2 with λ2 = 0.6/0.875, i.e. δ ≥ 0.137 — not KKT in ℓ2 either.
    private static readonly double[,] ThreeSamples = { { 1, 0.5 }, { 0.5, 1 }, { 1, 0.25 } };

    [Fact]
    public void ThreeSamples_L2Solution_IsL2KktOnly()
    {
        double[] theta = [6.0 / 7, 4.0 / 7];
        var (j, q, layout) = Linear(ThreeSamples, theta);
        Assert.Equal(1.0, q.Min(), 14);
        IReadOnlyList<KktResult> all = KktCertificate.ComputeAll(theta, layout, j, q);
        Assert.All(all, r => Assert.True(r.Converged));
        Assert.True(all[0].Epsilon <= 1e-8, $"ε = {all[0].Epsilon}");
        Assert.True(all[0].Delta >= 0 && all[0].Delta < 1, $"δ = {all[0].Delta}");
        Assert.True(all[1].Epsilon > 0.1, $"ε∞ = {all[1].Epsilon}");
        Assert.All(all[0].Lambda, v => Assert.True(v >= 0));
        // The certificate's λ reproduces ε: ‖Σ λ_i J_i − θ̃‖₂.
        Vector<double> r = j.TransposeThisAndMultiply(Vector<double>.Build.DenseOfArray(all[0].Lambda)) - Vector<double>.Build.DenseOfArray(theta);
        Assert.Equal(all[0].Epsilon, r.L2Norm(), 14);
    }

    [Fact]
    public void ThreeSamples_LInfSolution_IsLInfKktOnly()
    {
        double[] theta = [0.8, 0.8];
        var (j, q, layout) = Linear(ThreeSamples, theta);
        KktResult linf = KktCertificate.Compute(KktNorm.LInf, theta, layout, j, q);
        KktResult l2 = KktCertificate.Compute(KktNorm.L2, theta, layout, j, q);
        Assert.True(linf.Epsilon <= 1e-8, $"ε = {linf.Epsilon}");
        Assert.Equal(2, linf.ActiveCount);
        Assert.Equal(1.0, linf.Mu.Sum(), 12);
        Assert.True(l2.Epsilon <= 1e-8, $"ε2 = {l2.Epsilon}");
        Assert.True(l2.Delta > 0.13, $"δ2 = {l2.Delta}");

        // (1, 1) has q_min = 1.25 and rescales (L = 1) onto the ℓ∞ solution.
        var scaled = new double[2];
        var (_, q2, _) = Linear(ThreeSamples, [1.0, 1.0]);
        KktCertificate.RescaleToUnitMargin([1.0, 1.0], q2.Min(), 1, scaled);
        Assert.Equal([0.8, 0.8], scaled, (a, b) => Math.Abs(a - b) < 1e-15);
    }

    [Fact]
    public void RescaleToUnitMargin_UsesHomogeneityDegree()
    {
        var o = new double[2];
        KktCertificate.RescaleToUnitMargin([2, 4], 8, 3, o); // q_min^{−1/3} = 1/2
        Assert.Equal([1, 2], o);
        Assert.Throws<ArgumentException>(() => KktCertificate.RescaleToUnitMargin([1, 1], -1, 2, o));
    }

    [Fact]
    public void Msp_UsesTopSingularDirectionsOfAttainingBlocks()
    {
        // Layout W (2×2), u (1×2); θ̃: W = diag(1, 0.5), u = (0.6, 0.8). ‖θ̃‖msp = 1, attained by W's top
        // direction e1e1ᵀ and by u (whose generator is u/‖u‖₂ = u); W's second direction (σ = 0.5) is not.
        var layout = ParameterLayout.FullyConnected(2, [2]);
        double[] theta = [1, 0, 0, 0.5, 0.6, 0.8];
        // J_1 = ½ (e1e1ᵀ, u): λ1 = 1 with μ = (½, ½) is exact. J_2 = (e2e2ᵀ, 0) cannot help.
        Matrix<double> j = Matrix<double>.Build.DenseOfArray(new double[,] { { 0.5, 0, 0, 0, 0.3, 0.4 }, { 0, 0, 0, 1, 0, 0 } });
        double[] q = [1, 1.5];
        KktResult msp = KktCertificate.Compute(KktNorm.Msp, theta, layout, j, q);
        Assert.Equal(2, msp.ActiveCount);
        Assert.True(msp.Epsilon <= 1e-8, $"ε = {msp.Epsilon}");
        Assert.Equal(1, msp.Lambda[0], 8);
        Assert.Equal([0.5, 0.5], msp.Mu, (a, b) => Math.Abs(a - b) < 1e-8);
        Assert.Equal(0, msp.Lambda[1], 8);
        Assert.Equal(0, msp.Delta, 8);

        // With only J_2 the best is λ = 0 and k the shortest point of the hull: ε = ‖½(e1e1ᵀ, u)‖ = √2/2.
        KktResult alone = KktCertificate.Compute(KktNorm.Msp, theta, layout, j.SubMatrix(1, 1, 0, 6), [1.0]);
        Assert.Equal(Math.Sqrt(2) / 2, alone.Epsilon, 10);

        // A looser tolerance lets σ = 0.5 count as attaining (generator ‖θ̃‖msp e2e2ᵀ), and J_2 then matches it.
        KktResult loose = KktCertificate.Compute(KktNorm.Msp, theta, layout, j.SubMatrix(1, 1, 0, 6), [1.0], activeTolerance: 0.6);
        Assert.Equal(3, loose.ActiveCount);
        Assert.True(loose.Epsilon <= 1e-8);
    }

    [Fact]
    public void CompositeNorms_UseAttainingBlocksWithTheirWeights()
    {
        // W = diag(1, 0.5), u = (1, −0.3). Muon-Signum max{‖W‖sp, ‖u‖∞} = 1 is attained by W's top direction
        // e1e1ᵀ and by u's coordinate 0: J_1 = ½ (e1e1ᵀ, e_u0) is matched by λ = 1, μ = (½, ½).
        var layout = ParameterLayout.FullyConnected(2, [2]);
        double[] theta = [1, 0, 0, 0.5, 1, -0.3];
        Matrix<double> j = Matrix<double>.Build.DenseOfArray(new double[,] { { 0.5, 0, 0, 0, 0.5, 0 } });
        KktResult signum = KktCertificate.Compute(Norms.MuonSignum(layout), theta, j, [1.0]);
        Assert.Equal("muon-signum", signum.Norm);
        Assert.Equal(2, signum.ActiveCount);
        Assert.True(signum.Epsilon <= 1e-8, $"ε = {signum.Epsilon}");
        Assert.Equal(1, signum.Lambda[0], 8);

        // Muon-Adam with weight ½ on W: max{½‖W‖sp, ‖u‖∞} = 1 is attained by u's coordinate 0 alone, so
        // k = (0, e_u0) and ε = min_a ‖(a e1e1ᵀ, (a − 1) e_u0)‖ = √½.
        KktResult adam = KktCertificate.Compute(Norms.MuonAdam(layout, 0.5), theta, j, [1.0]);
        Assert.Equal(1, adam.ActiveCount);
        Assert.Equal(Math.Sqrt(0.5), adam.Epsilon, 10);

        // msp through the block overload agrees with the enum entry point.
        KktResult viaBlock = KktCertificate.Compute(Norms.Msp(layout), theta, j, [1.0]);
        KktResult viaEnum = KktCertificate.Compute(KktNorm.Msp, theta, layout, j, [1.0]);
        Assert.Equal(viaEnum.Epsilon, viaBlock.Epsilon, 14);
        Assert.Equal(viaEnum.ActiveCount, viaBlock.ActiveCount);
    }

    [Fact]
    public void SlacknessWeight_TradesEpsilonForDelta()
    {
        // At the ℓ∞ solution (0.8, 0.8) of the three-sample case, ε₂ = 0 needs δ ≥ 0.137; weighting δ lowers it
        // at the price of ε. At the ℓ2 solution an exact certificate (ε = δ = 0, λ1 = 0) exists and is found.
        var (j, q, layout) = Linear(ThreeSamples, [0.8, 0.8]);
        KktResult plain = KktCertificate.Compute(KktNorm.L2, [0.8, 0.8], layout, j, q);
        KktResult weighted = KktCertificate.Compute(KktNorm.L2, [0.8, 0.8], layout, j, q, slacknessWeight: 1);
        Assert.True(plain.Converged && weighted.Converged);
        Assert.True(weighted.Delta < plain.Delta - 0.05, $"δ {weighted.Delta} vs {plain.Delta}");
        Assert.True(weighted.Epsilon > plain.Epsilon);
        double objective(KktResult r) => (0.5 * r.Epsilon * r.Epsilon) + r.Delta;
        Assert.True(objective(weighted) <= objective(plain) + 1e-12);

        double[] opt = [6.0 / 7, 4.0 / 7];
        var (j2, q2, _) = Linear(ThreeSamples, opt);
        KktResult exact = KktCertificate.Compute(KktNorm.L2, opt, layout, j2, q2, slacknessWeight: 1);
        Assert.True(exact.Epsilon <= 1e-8 && Math.Abs(exact.Delta) <= 1e-8, $"ε = {exact.Epsilon}, δ = {exact.Delta}");
        Assert.Equal([0, 20.0 / 49, 32.0 / 49], exact.Lambda, (a, b) => Math.Abs(a - b) < 1e-8);
        Assert.Throws<ArgumentOutOfRangeException>(() => KktCertificate.Compute(KktNorm.L2, opt, layout, j2, q2, slacknessWeight: -1));
    }

    [Fact]
    public void PlantedL2Solution_ManySamples_IsCertifiedAndPerturbationIsNot()
    {
        // Plant an ℓ2 max-margin solution: support rows J_s (s < 4) near-orthogonal in R^12, λ* = G⁻¹1 with
        // G = J_S J_Sᵀ (positive here), θ* = J_Sᵀλ*, so J_s·θ* = 1 and θ* = Σ λ*_s J_s: the KKT conditions of
        // min ½‖θ‖² s.t. J_i·θ ≥ 1 hold, with 36 more samples scaled to margins in [1.5, 3].
        var rng = new Random(42);
        int d = 12, support = 4, m = 40;
        Matrix<double> js = Matrix<double>.Build.Dense(support, d, (i, k) => (i == k ? 2.0 : 0.0) + (0.2 * ((2 * rng.NextDouble()) - 1)));
        Vector<double> lambdaStar = (js * js.Transpose()).Solve(Vector<double>.Build.Dense(support, 1.0));
        Assert.All(lambdaStar, v => Assert.True(v > 0));
        Vector<double> theta = js.TransposeThisAndMultiply(lambdaStar);
        Matrix<double> j = Matrix<double>.Build.Dense(m, d);
        j.SetSubMatrix(0, 0, js);
        for (int i = support; i < m; i++)
        {
            // A random part orthogonal to θ* plus t θ*/‖θ*‖²: margin exactly t ∈ [1.5, 3].
            Vector<double> row = Vector<double>.Build.Dense(d, _ => (2 * rng.NextDouble()) - 1);
            double tt = theta * theta;
            row -= theta * ((row * theta) / tt);
            row += theta * ((1.5 + (1.5 * rng.NextDouble())) / tt);
            j.SetRow(i, row);
        }

        double[] q = (j * theta).ToArray();
        Assert.Equal(1.0, q.Min(), 12);
        var layout = ParameterLayout.FullyConnected(d, []);
        KktResult r = KktCertificate.Compute(KktNorm.L2, theta.ToArray(), layout, j, q, slacknessWeight: 1);
        Assert.True(r.Converged);
        Assert.True(r.Epsilon <= 1e-8 && Math.Abs(r.Delta) <= 1e-8, $"ε = {r.Epsilon}, δ = {r.Delta}");
        for (int s = 0; s < support; s++)
        {
            Assert.Equal(lambdaStar[s], r.Lambda[s], 7);
        }

        // Rotate θ* slightly, rescale to q_min = 1: no longer a KKT point.
        double[] bent = theta.ToArray();
        bent[d - 1] += 0.1 * theta.L2Norm();
        double[] qb = (j * Vector<double>.Build.DenseOfArray(bent)).ToArray();
        var scaled = new double[d];
        KktCertificate.RescaleToUnitMargin(bent, qb.Min(), 1, scaled);
        double[] qs = (j * Vector<double>.Build.DenseOfArray(scaled)).ToArray();
        KktResult rb = KktCertificate.Compute(KktNorm.L2, scaled, layout, j, qs, slacknessWeight: 1);
        Assert.True((0.5 * rb.Epsilon * rb.Epsilon) + rb.Delta > 1e-3, $"ε = {rb.Epsilon}, δ = {rb.Delta}");
    }
}
