namespace ImplicitBias.Flow.Kernels.Tests;

[Collection(SharedAccelerator.Name)]
public sealed class GradientEvaluatorTests(AcceleratorFixture fixture)
{
    private const int Samples = 37; // not a multiple of any warp or group size
    private const int Dimension = 5;

    public static TheoryData<ActivationKind, double, int, LossKind> Cases()
    {
        var data = new TheoryData<ActivationKind, double, int, LossKind>();
        foreach (LossKind loss in new[] { LossKind.Exponential, LossKind.Logistic })
        {
            data.Add(ActivationKind.Identity, 0, 1, loss); // D = 1: the activation is never applied
            foreach (int depth in new[] { 2, 3 })
            {
                data.Add(ActivationKind.Relu, 0, depth, loss);
                data.Add(ActivationKind.ReluPower, 2, depth, loss);
                data.Add(ActivationKind.ReluPower, 2.5, depth, loss);
                data.Add(ActivationKind.Quadratic, 0, depth, loss);
                data.Add(ActivationKind.Identity, 0, depth, loss);
            }
        }

        return data;
    }

    private static int[] Widths(int depth) => depth switch
    {
        1 => [],
        2 => [7],
        _ => [7, 3],
    };

    private static (double[] X, double[] Y) Data(int seed, int m, int d)
    {
        var random = new Random(seed);
        var x = new double[m * d];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (2 * random.NextDouble()) - 1;
        }

        var y = new double[m];
        for (int i = 0; i < m; i++)
        {
            y[i] = random.Next(2) == 0 ? -1 : 1;
        }

        return (x, y);
    }

    private static double[] Theta(int seed, int length, double scale)
    {
        var random = new Random(seed);
        var theta = new double[length];
        for (int i = 0; i < length; i++)
        {
            theta[i] = scale * ((2 * random.NextDouble()) - 1);
        }

        return theta;
    }

    private static void AssertBlocksClose(NetworkSpec spec, double[] expected, double[] actual, double tolerance)
    {
        var layout = Core.Parameters.ParameterLayout.FullyConnected(spec.InputDimension, spec.HiddenWidths);
        for (int b = 0; b < layout.Blocks.Count; b++)
        {
            ReadOnlySpan<double> e = layout.Slice(expected, b);
            ReadOnlySpan<double> a = layout.Slice(actual, b);
            double scale = 0;
            double error = 0;
            for (int i = 0; i < e.Length; i++)
            {
                scale = Math.Max(scale, Math.Abs(e[i]));
                error = Math.Max(error, Math.Abs(e[i] - a[i]));
            }

            Assert.True(error <= tolerance * scale + 1e-300, $"block {layout.Blocks[b].Name}: max error {error:E3} against scale {scale:E3}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Evaluate_MatchesScalarReference(ActivationKind activation, double power, int depth, LossKind loss)
    {
        var spec = new NetworkSpec(Dimension, Widths(depth), activation, power, loss);
        (double[] x, double[] y) = Data(11 + depth, Samples, Dimension);
        using var evaluator = new IlgpuGradientEvaluator(fixture.Accelerator, spec, x, y);
        double[] theta = Theta(5 * depth, evaluator.Layout.Length, 1.0);

        var expectedGrad = new double[theta.Length];
        var expectedMargins = new double[Samples];
        double expectedLogL = ScalarReference.Evaluate(spec, x, y, theta, expectedGrad, expectedMargins);

        var grad = new double[theta.Length];
        double logL = evaluator.Evaluate(theta, grad);
        var margins = new double[Samples];
        evaluator.ReadMargins(margins);

        double marginScale = expectedMargins.Max(Math.Abs);
        for (int i = 0; i < Samples; i++)
        {
            Assert.True(Math.Abs(margins[i] - expectedMargins[i]) <= 1e-12 * marginScale, $"margin {i}: {margins[i]} vs {expectedMargins[i]}");
        }

        Assert.True(Math.Abs(logL - expectedLogL) <= 1e-12 * Math.Max(1, Math.Abs(expectedLogL)), $"log L {logL} vs {expectedLogL}");
        AssertBlocksClose(spec, expectedGrad, grad, 1e-12);
        Assert.Contains(grad, g => g != 0); // the comparison is not vacuous
    }

    [Theory]
    [InlineData(LossKind.Exponential)]
    [InlineData(LossKind.Logistic)]
    public void Evaluate_LossFarBelowDoubleRange_LogLIsExact(LossKind loss)
    {
        // Linear predictor with labels agreeing with ⟨u, x⟩ and u scaled so the smallest margin is 1e4:
        // L ≈ e^{−1e4} ≪ 1e-300 underflows in double, log L must not.
        var spec = new NetworkSpec(Dimension, [], ActivationKind.Identity, 0, loss);
        (double[] x, double[] _) = Data(3, Samples, Dimension);
        double[] u = Theta(4, Dimension, 1.0);
        var y = new double[Samples];
        double minAbs = double.MaxValue;
        for (int i = 0; i < Samples; i++)
        {
            double f = 0;
            for (int k = 0; k < Dimension; k++)
            {
                f += u[k] * x[(i * Dimension) + k];
            }

            y[i] = f >= 0 ? 1 : -1;
            minAbs = Math.Min(minAbs, Math.Abs(f));
        }

        for (int k = 0; k < Dimension; k++)
        {
            u[k] *= 1e4 / minAbs;
        }

        using var evaluator = new IlgpuGradientEvaluator(fixture.Accelerator, spec, x, y);
        var grad = new double[Dimension];
        double logL = evaluator.Evaluate(u, grad);
        var expectedGrad = new double[Dimension];
        double expectedLogL = ScalarReference.Evaluate(spec, x, y, u, expectedGrad, new double[Samples]);

        Assert.True(logL < -9_999, $"log L = {logL}");
        Assert.True(Math.Abs(logL - expectedLogL) <= 1e-12 * Math.Abs(expectedLogL), $"log L {logL} vs {expectedLogL}");
        Assert.All(grad, g => Assert.True(double.IsFinite(g)));
        AssertBlocksClose(spec, expectedGrad, grad, 1e-12);
        // g/L is of order one: the closest sample dominates with weight ≈ 1, so ‖g/L‖ ≈ ‖x_closest‖.
        Assert.InRange(Math.Sqrt(grad.Sum(g => g * g)), 1e-3, 10);
    }

    [Theory]
    [InlineData(ActivationKind.Relu, 0.0, 2, LossKind.Exponential)]
    [InlineData(ActivationKind.ReluPower, 2.0, 3, LossKind.Logistic)]
    [InlineData(ActivationKind.Identity, 0.0, 1, LossKind.Exponential)]
    public void Evaluate_Float32_AgreesToSinglePrecision(ActivationKind activation, double power, int depth, LossKind loss)
    {
        var spec = new NetworkSpec(Dimension, Widths(depth), activation, power, loss);
        (double[] x, double[] y) = Data(21, Samples, Dimension);
        using var evaluator = new IlgpuGradientEvaluator(fixture.Accelerator, spec, x, y, Precision.Float32);
        double[] theta = Theta(22, evaluator.Layout.Length, 1.0);
        var expectedGrad = new double[theta.Length];
        double expectedLogL = ScalarReference.Evaluate(spec, x, y, theta, expectedGrad, new double[Samples]);

        var grad = new double[theta.Length];
        double logL = evaluator.Evaluate(theta, grad);

        Assert.Equal(Precision.Float32, evaluator.Precision);
        Assert.True(Math.Abs(logL - expectedLogL) <= 1e-5 * Math.Max(1, Math.Abs(expectedLogL)), $"log L {logL} vs {expectedLogL}");
        AssertBlocksClose(spec, expectedGrad, grad, 2e-5);
    }

    [Fact]
    public void Evaluate_RepeatedCalls_ReuseBuffersAndGiveIdenticalResults()
    {
        var spec = new NetworkSpec(Dimension, [7, 3], ActivationKind.Relu, 0, LossKind.Logistic);
        (double[] x, double[] y) = Data(31, Samples, Dimension);
        using var evaluator = new IlgpuGradientEvaluator(fixture.Accelerator, spec, x, y);
        double[] a = Theta(32, evaluator.Layout.Length, 1.0);
        double[] b = Theta(33, evaluator.Layout.Length, 1.0);
        var first = new double[a.Length];
        var other = new double[a.Length];
        var again = new double[a.Length];

        double logLFirst = evaluator.Evaluate(a, first);
        evaluator.Evaluate(b, other);
        double logLAgain = evaluator.Evaluate(a, again);

        Assert.Equal(logLFirst, logLAgain);
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public void Evaluate_NaNParameters_ReportInfiniteLossWithoutHanging()
    {
        // A NaN margin must not reach ILGPU's atomic reductions (their compare-exchange loop spins on NaN).
        var spec = new NetworkSpec(Dimension, [7], ActivationKind.Relu, 0, LossKind.Exponential);
        (double[] x, double[] y) = Data(41, Samples, Dimension);
        using var evaluator = new IlgpuGradientEvaluator(fixture.Accelerator, spec, x, y);
        double[] theta = Theta(42, evaluator.Layout.Length, 1.0);
        theta[^1] = double.NaN;
        var grad = new double[theta.Length];

        double logL = evaluator.Evaluate(theta, grad);

        Assert.Equal(double.PositiveInfinity, logL);
        Assert.Contains(grad, double.IsNaN);
    }

    [Fact]
    public void EvaluateOnDevice_MatchesHostEvaluateOnStateViews()
    {
        var spec = new NetworkSpec(Dimension, [7, 3], ActivationKind.ReluPower, 2, LossKind.Logistic);
        (double[] x, double[] y) = Data(51, Samples, Dimension);
        using var evaluator = new IlgpuGradientEvaluator(fixture.Accelerator, spec, x, y);
        double[] theta = Theta(52, evaluator.Layout.Length, 1.0);
        var expected = new double[theta.Length];
        double expectedLogL = evaluator.Evaluate(theta, expected);

        using var algebra = new IlgpuStateAlgebra(fixture.Accelerator, Core.State.StateLayout.Single(theta.Length));
        using DeviceState deviceTheta = algebra.Allocate();
        using DeviceState deviceGrad = algebra.Allocate();
        algebra.Write(theta, deviceTheta);
        double logL = evaluator.EvaluateOnDevice(deviceTheta.View, deviceGrad.View);
        var grad = new double[theta.Length];
        algebra.Read(deviceGrad, grad);

        Assert.Equal(expectedLogL, logL);
        Assert.Equal(expected, grad);
    }

    [Fact]
    public void Evaluate_ReluAtExactlyZero_UsesZeroSubgradient()
    {
        // One sample x = (1, 0), W rows (0, 1) and (1, 0): the first unit's preactivation is exactly 0, so with
        // σ'(0) = 0 its row of the gradient is 0 (σ'(0) = 1 would give u_1 δ x = nonzero), the second's is not.
        var spec = new NetworkSpec(2, [2], ActivationKind.Relu, 0, LossKind.Exponential);
        using var evaluator = new IlgpuGradientEvaluator(fixture.Accelerator, spec, [1.0, 0.0], [1.0]);
        double[] theta = [0, 1, 1, 0, 0.5, 0.25]; // W = [[0, 1], [1, 0]], u = (0.5, 0.25)
        var grad = new double[theta.Length];

        double logL = evaluator.Evaluate(theta, grad);

        // f = 0.5 σ(0) + 0.25 σ(1) = 0.25; ∂ log L/∂f = −1.
        Assert.Equal(-0.25, logL, 1e-15);
        Assert.Equal([0.0, 0.0, -0.25, 0.0, 0.0, -1.0], grad);
    }

    [Fact]
    public void Constructor_RejectsMismatchedShapes()
    {
        var spec = new NetworkSpec(Dimension, [3], ActivationKind.ReluPower, 0.5, LossKind.Exponential);
        Assert.Throws<ArgumentException>(() => new IlgpuGradientEvaluator(fixture.Accelerator, spec, new double[10], new double[2]));
        var good = spec with { Power = 2 };
        Assert.Throws<ArgumentException>(() => new IlgpuGradientEvaluator(fixture.Accelerator, good, new double[9], new double[2]));
    }
}
