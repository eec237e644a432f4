using ImplicitBias.Flow.Flows.Discrete;
using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Flows.Tests.Discrete;

/// <summary>
/// Three steps of discrete Adam, Signum and Muon on tiny models, against numbers computed independently (plain
/// Python floats following Eqs. 19–20 on unscaled m and v; the arithmetic is in the comments). h = 1, t_off = 1,
/// a = 0.5, so η_n = η0 n^{−1/2}: η1 = 0.1, η2 = 0.1/√2 = 0.0707107, η3 = 0.1/√3 = 0.0577350.
/// </summary>
public class HandComputedStepTests
{
    private const double Power = 0.5;

    private static void AssertClose(double[] expected, ReadOnlySpan<double> actual, double tolerance = 1e-13)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"[{i}] expected {expected[i]:R}, got {actual[i]:R}");
        }
    }

    /// <summary>
    /// Linear predictor f = ⟨θ, x⟩, x1 = (1, 1), y1 = +1; x2 = (0.5, −1), y2 = −1; L = Σ e^{−z_i}, z_i = y_i⟨θ, x_i⟩,
    /// g = −Σ y_i e^{−z_i} x_i; θ0 = (0.1, −0.2); β1 = 0.9, β2 = 0.999, ε = 0.1 (large on purpose, so ε is tested).
    /// </summary>
    [Fact]
    public void Adam_ThreeSteps_MatchHandComputation()
    {
        var oracle = new SmallNetworkOracle([[1.0, 1.0], [0.5, -1.0]], [1.0, -1.0], width: 0);
        var spec = new OptimizerSpec("adam", 0.1, C1: -Math.Log(0.9), C2: -Math.Log(0.999), Epsilon: 0.1);
        var opt = new DiscreteOptimizer(oracle, OptimizerCatalog.Parts(spec, oracle.Layout), Power, 1.0, [0.1, -0.2]);

        // n = 1: z = (0.1 − 0.2, −(0.05 + 0.2)) = (−0.1, −0.25); L = e^{0.1} + e^{0.25} = 2.3891963
        //   g = −(e^{0.1}(1, 1) − e^{0.25}(0.5, −1)) = (−0.4631582, −2.3891963)
        //   m1 = 0.1 g = (−0.04631582, −0.23891963); v1 = 0.001 g² = (2.1451553e-4, 5.7082591e-3)
        //   m̂1 = m1/0.1 = g; v̂1 = v1/0.001 = g²; d = g/(|g| + 0.1) = (−0.4631582/0.5631582, −2.3891963/2.4891963)
        //     = (−0.8224300, −0.9598264); θ1 = θ0 − 0.1 d = (0.1822430, −0.1040174)
        Assert.Equal(Math.Log(2.389196334763389), opt.LogLoss, 14);
        opt.Step();
        AssertClose([0.18224300058634885, -0.10401736088887122], opt.Theta);
        AssertClose([-0.8224300058634885, -0.9598263911112879], opt.LastDirection);

        // n = 2: z = (0.0782256, −0.1951389); L = 2.1402355; g = (−0.3170159, −2.1402355)
        //   m2 = 0.9 m1 + 0.1 g = (−0.07338583, −0.42905122); v2 = 0.999 v1 + 0.001 g² = (3.1480007e-4, 1.0283159e-2)
        //   m̂2 = m2/(1 − 0.81) = (−0.3862412, −2.2581643); v̂2 = v2/(1 − 0.998001) = (0.1574788, 5.1441515)
        //   d = m̂2/(√v̂2 + 0.1) = (−0.3862412/0.4968388, −2.2581643/2.3680545) = (−0.7774018, −0.9535876)
        //   θ2 = θ1 − 0.0707107 d = (0.2372136, −0.0365885)
        opt.Step();
        AssertClose([0.23721361195652407, -0.03658853415024062], opt.Theta);
        AssertClose([-0.7774018413164244, -0.9535876126867696], opt.LastDirection);

        // n = 3: z = (0.2006251, −0.1551953); L = 1.9861052; g = (−0.2342761, −1.9861052)
        //   m3 = (−0.08947485, −0.58475662); v3 = (3.6937056e-4, 1.4217490e-2)
        //   m̂3 = m3/(1 − 0.729) = (−0.3301655, −2.1577735); v̂3 = v3/(1 − 0.997002999) = (0.1232467, 4.7439055)
        //   d = (−0.3301655/0.4510652, −2.1577735/2.2780706) = (−0.7319686, −0.9472016)
        //   θ3 = θ2 − 0.0577350 d = (0.2794738, 0.0180982); log L(θ3) = 0.6269888
        opt.Step();
        AssertClose([0.27947383842152196, 0.018098177953687823], opt.Theta);
        AssertClose([-0.7319685937674323, -0.9472016386289596], opt.LastDirection);
        Assert.Equal(0.6269887574252695, opt.LogLoss, 13);

        // The stored moments are the unscaled m3, v3 of Eq. 20 once their log-scales are applied.
        double ms = Math.Exp(opt.MomentumLogScale(0)), vs = Math.Exp(opt.SecondMomentLogScale(0));
        AssertClose([-0.08947485318103325, -0.5847566196778571], [ms * opt.MomentumMantissa(0)[0], ms * opt.MomentumMantissa(0)[1]], 1e-15);
        AssertClose([0.0003693705624205791, 0.01421748963041711], [vs * opt.SecondMomentMantissa(0)[0], vs * opt.SecondMomentMantissa(0)[1]], 1e-16);
        Assert.Equal(3, opt.StepNumber);
        Assert.Equal(3.0, opt.Time);
        Assert.Equal(4, opt.GradientEvaluations);
    }

    /// <summary>
    /// Linear predictor, x1 = (1, 1), x2 = (1, −1), both y = +1; θ0 = (0, 0.12); β = 0.5 (c = log 2), small enough
    /// that the second coordinate of m follows the gradient's change of sign within the three steps.
    /// </summary>
    [Fact]
    public void Signum_ThreeSteps_MatchHandComputation_IncludingASignFlip()
    {
        var oracle = new SmallNetworkOracle([[1.0, 1.0], [1.0, -1.0]], [1.0, 1.0], width: 0);
        var spec = new OptimizerSpec("signum", 0.1, C1: Math.Log(2));
        var opt = new DiscreteOptimizer(oracle, OptimizerCatalog.Parts(spec, oracle.Layout), Power, 1.0, [0.0, 0.12]);
        Assert.Equal(0.5, opt.Beta1(0), 15);

        // n = 1: z = (0.12, −0.12); g = −(e^{−0.12}(1, 1) + e^{0.12}(1, −1)) = (−2.0144173, 0.2405764)
        //   m1 = 0.5 g = (−1.0072086, 0.1202882); sign = (−1, +1); θ1 = (0, 0.12) − 0.1 (−1, 1) = (0.1, 0.02)
        opt.Step();
        AssertClose([0.1, 0.02], opt.Theta, 1e-15);
        AssertClose([-1.0, 1.0], opt.LastDirection, 0);

        // n = 2: z = (0.12, 0.08); g = −(e^{−0.12} + e^{−0.08}, e^{−0.12} − e^{−0.08}) = (−1.8100368, 0.0361959)
        //   m2 = 0.5 m1 + 0.5 g = (−1.4086227, 0.0782421); sign = (−1, +1)
        //   θ2 = (0.1, 0.02) − 0.0707107 (−1, 1) = (0.1707107, −0.0507107)
        opt.Step();
        AssertClose([0.17071067811865476, -0.050710678118654776], opt.Theta, 1e-15);

        // n = 3: z = (0.12, 0.2214214); g = −(e^{−0.12} + e^{−0.2214214}, e^{−0.12} − e^{−0.2214214}) = (−1.6882994, −0.0855415)
        //   m3 = 0.5 m2 + 0.5 g = (−1.5484610, 0.0391210 − 0.0427707 = −0.0036497); sign = (−1, −1): the flip
        //   θ3 = θ2 − 0.0577350 (−1, −1) = (0.2284457, 0.0070243)
        opt.Step();
        AssertClose([-1.0, -1.0], opt.LastDirection, 0);
        AssertClose([0.22844570503761732, 0.007024348800307799], opt.Theta, 1e-15);
        double s = Math.Exp(opt.MomentumLogScale(0));
        AssertClose([-1.5484610467342073, -0.0036497175208182464], [s * opt.MomentumMantissa(0)[0], s * opt.MomentumMantissa(0)[1]], 1e-14);
    }

    /// <summary>
    /// Two-layer ReLU² network f(x) = Σ_j u_j ⟨w_j, x⟩², W = [[0.6, 0.2], [0.1, 0.5]], u = (0.4, −0.3);
    /// x1 = (1, 0.5), y1 = +1; x2 = (0.3, 1), y2 = −1 (all preactivations stay positive); β = 0.9.
    /// g_W[j, :] = −Σ_i y_i e^{−z_i} u_j 2 a_ij x_i, g_u[j] = −Σ_i y_i e^{−z_i} a_ij². Muon: W ← W − η U Vᵀ(m_W), u ← u − η m_u/‖m_u‖.
    /// The 2 × 2 polar factor in closed form: for det M &gt; 0, U Vᵀ = [[a + d, b − c], [c − b, a + d]] / √((a + d)² + (b − c)²).
    /// </summary>
    [Fact]
    public void Muon_ThreeSteps_MatchHandComputation()
    {
        var oracle = new SmallNetworkOracle([[1.0, 0.5], [0.3, 1.0]], [1.0, -1.0], width: 2);
        var spec = new OptimizerSpec("muon", 0.1, C1: -Math.Log(0.9));
        double[] theta0 = [0.6, 0.2, 0.1, 0.5, 0.4, -0.3];
        var opt = new DiscreteOptimizer(oracle, OptimizerCatalog.Parts(spec, oracle.Layout), Power, 1.0, theta0);

        // n = 1: a1 = (0.7, 0.35), a2 = (0.38, 0.53); f = (0.15925, −0.02651); L = e^{−0.15925} + e^{−0.02651} = 1.8266214
        //   g_W = [[−0.3887445, 0.0572676], [0.0861803, −0.2201384]], g_u = (−0.2772415, 0.1690852)
        //   m_W = 0.1 g_W, det = 8.064e-4 > 0: a + d = −0.0608883, b − c = −0.0028913,
        //     U Vᵀ = [[−0.0608883, −0.0028913], [0.0028913, −0.0608883]]/0.0609569
        //     = [[−0.9988745, −0.0474314], [0.0474314, −0.9988745]]; m_u/‖m_u‖ = (−0.8537475, 0.5206872)
        //   θ1 = θ0 − 0.1 (U Vᵀ, m_u/‖m_u‖) = (0.6998874, 0.2047431, 0.0952569, 0.5998874, 0.4853747, −0.3520687)
        opt.Step();
        AssertClose([0.699887449697912, 0.20474314166424526, 0.09525685833575474, 0.599887449697912, 0.48537474987992385, -0.3520687246141141], opt.Theta);
        AssertClose([-0.99887449697912, -0.04743141664245259, 0.04743141664245259, -0.99887449697912, -0.8537474987992383, 0.5206872461411407], opt.LastDirection);

        // n = 2: L = 1.7189889; g_W = [[−0.4878026, 0.0797909], [0.0895410, −0.3110405]], g_u = (−0.3348652, 0.2528766)
        //   m_W = 0.9 m_W + 0.1 g_W = [[−0.0837673, 0.0131332], [0.0167103, −0.0509165]], det = 4.046e-3 > 0
        //   U Vᵀ = [[−0.9996475, −0.0265503], [0.0265503, −0.9996475]]; m_u = (−0.0584383, 0.0405053) → (−0.8218756, 0.5696670)
        //   θ2 = θ1 − 0.0707107 d = (0.7705732, 0.2066205, 0.0933795, 0.6705732, 0.5434901, −0.3923503)
        opt.Step();
        AssertClose([0.7705732008158922, 0.20662053051233986, 0.09337946948766015, 0.6705732008158922, 0.5434901306418525, -0.3923502652859412], opt.Theta);

        // n = 3: L = 1.6260653; m_W = [[−0.1297193, 0.0217228], [0.0238404, −0.0841241]], det = 1.039e-2 > 0
        //   U Vᵀ = [[−0.9999510, −0.0099021], [0.0099021, −0.9999510]]; m_u = (−0.0892263, 0.0681364) → (−0.7947680, 0.6069134)
        //   θ3 = θ2 − 0.0577350 d = (0.8283054, 0.2071922, 0.0928078, 0.7283054, 0.5893761, −0.4273904); log L(θ3) = 0.4321132
        opt.Step();
        AssertClose([0.8283053971632051, 0.2071922282022531, 0.09280777179774691, 0.7283053971632051, 0.5893760824770259, -0.42739042449667364], opt.Theta);
        Assert.Equal(0.4321131876071295, opt.LogLoss, 13);
    }
}
