using ImplicitBias.Flow.Core.LinearAlgebra;

namespace ImplicitBias.Flow.Core.Tests.LinearAlgebra;

public class WeightedDotTests
{
    /// <summary>
    /// The vectorized Σ w x y against a compensated (Kahan) scalar sum, for lengths around the vector widths (tails of
    /// every size) and a long vector; the error is bounded by the rounding of a sum of n terms.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(63)]
    [InlineData(100)]
    [InlineData(15_701)]
    public void MatchesACompensatedScalarSum(int n)
    {
        var random = new Random(n + 1);
        double[] x = Enumerable.Range(0, n).Select(_ => random.NextDouble() - 0.5).ToArray();
        double[] y = Enumerable.Range(0, n).Select(_ => random.NextDouble() - 0.5).ToArray();
        double[] w = Enumerable.Range(0, n).Select(_ => Math.Exp(10 * (random.NextDouble() - 0.5))).ToArray();
        double sum = 0, compensation = 0, magnitude = 0;
        for (int i = 0; i < n; i++)
        {
            double term = (w[i] * x[i] * y[i]) - compensation;
            double next = sum + term;
            compensation = (next - sum) - term;
            sum = next;
            magnitude += Math.Abs(w[i] * x[i] * y[i]);
        }

        double actual = WeightedDot.Compute(x, y, w);
        Assert.True(Math.Abs(actual - sum) <= 4 * n * 1.2e-16 * magnitude, $"n = {n}: {actual} against {sum}");
        Assert.Equal(actual, Arnoldi.Dot(x, y, w));
    }

    [Fact]
    public void RejectsSpansOfDifferentLengths() =>
        Assert.Throws<ArgumentException>(() => WeightedDot.Compute(new double[3], new double[3], new double[2]));
}
