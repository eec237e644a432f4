using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Flows;

namespace ImplicitBias.Flow.Kernels.Tests;

public sealed class GradientBackendsTests
{
    private static readonly NetworkSpec Spec = new(3, [4], ActivationKind.ReluPower, 2, LossKind.Exponential);
    private static readonly double[] X = [0.5, -1, 0.25, 1, 0.5, -0.5, -0.75, 0.25, 1, 0.1, 0.2, 0.3];
    private static readonly double[] Y = [1, -1, 1, -1];

    /// <summary>The scalar reference as the "managed CPU" evaluator the factory delegate supplies.</summary>
    private sealed class ReferenceOracle : IGradientOracle, IDisposable
    {
        public ParameterLayout Layout { get; } = ParameterLayout.FullyConnected(Spec.InputDimension, Spec.HiddenWidths);

        public bool Disposed { get; private set; }

        public double Evaluate(ReadOnlySpan<double> theta, Span<double> relativeGradient)
        {
            var grad = new double[theta.Length];
            double logL = ScalarReference.Evaluate(Spec, X, Y, theta.ToArray(), grad, new double[Y.Length]);
            grad.CopyTo(relativeGradient);
            return logL;
        }

        public void Dispose() => Disposed = true;
    }

    [Theory]
    [InlineData("auto", Backend.Auto)]
    [InlineData("CPU", Backend.Cpu)]
    [InlineData("ilgpu-cpu", Backend.IlgpuCpu)]
    [InlineData(" cuda ", Backend.Cuda)]
    public void Parse_AcceptsOptionSpellings(string name, Backend expected)
    {
        Assert.Equal(expected, GradientBackends.Parse(name));
        Assert.Equal(name.Trim().ToLowerInvariant(), GradientBackends.Format(expected));
    }

    [Fact]
    public void Parse_RejectsUnknownName() =>
        Assert.Throws<ArgumentException>(() => GradientBackends.Parse("opencl"));

    [Fact]
    public void Create_Cpu_UsesManagedFactoryAndDisposesIt()
    {
        var reference = new ReferenceOracle();
        using (GradientBackend backend = GradientBackends.Create(Backend.Cpu, Spec, X, Y, () => reference))
        {
            Assert.Equal(Backend.Cpu, backend.Kind);
            Assert.Equal("cpu", backend.Name);
            Assert.StartsWith("managed CPU", backend.DeviceName);
            Assert.Same(reference, backend.Oracle);
            Assert.Null(backend.Accelerator);
        }

        Assert.True(reference.Disposed);
    }

    [Fact]
    public void Create_IlgpuCpu_MatchesManagedEvaluator()
    {
        using var reference = new ReferenceOracle();
        using GradientBackend backend = GradientBackends.Create(Backend.IlgpuCpu, Spec, X, Y, () => throw new InvalidOperationException("not the CPU backend"));
        Assert.Equal(Backend.IlgpuCpu, backend.Kind);
        Assert.Equal("ilgpu-cpu", backend.Name);
        Assert.False(string.IsNullOrWhiteSpace(backend.DeviceName));
        Assert.NotNull(backend.Accelerator);

        double[] theta = Enumerable.Range(0, backend.Oracle.Layout.Length).Select(i => Math.Sin(i + 1.0)).ToArray();
        var grad = new double[theta.Length];
        var expected = new double[theta.Length];
        double logL = backend.Oracle.Evaluate(theta, grad);
        double expectedLogL = reference.Evaluate(theta, expected);
        Assert.Equal(expectedLogL, logL, 1e-12);
        for (int i = 0; i < grad.Length; i++)
        {
            Assert.Equal(expected[i], grad[i], 1e-12);
        }
    }

    [Fact]
    public void Create_AutoAndCuda_FollowCudaAvailability()
    {
        bool cuda = GradientBackends.IsCudaAvailable();
        using (GradientBackend auto = GradientBackends.Create(Backend.Auto, Spec, X, Y, () => new ReferenceOracle()))
        {
            Assert.Equal(cuda ? Backend.Cuda : Backend.Cpu, auto.Kind);
        }

        if (cuda)
        {
            using GradientBackend backend = GradientBackends.Create(Backend.Cuda, Spec, X, Y, () => new ReferenceOracle());
            Assert.Equal(Backend.Cuda, backend.Kind);
        }
        else
        {
            var error = Assert.Throws<InvalidOperationException>(() => GradientBackends.Create(Backend.Cuda, Spec, X, Y, () => new ReferenceOracle()));
            Assert.Contains("no CUDA device", error.Message);
        }
    }
}
