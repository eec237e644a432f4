using ImplicitBias.Flow.Core.Numerics;

namespace ImplicitBias.Flow.Core.Tests;

public class ScalarMathTests
{
    [Theory]
    [InlineData(1e-300)]
    [InlineData(1e-12)]
    [InlineData(-3e-9)]
    [InlineData(1e-4)]
    [InlineData(0.3)]
    [InlineData(-20.0)]
    public void ExpM1_MatchesTaylorSeriesOrExp(double x)
    {
        double expected = Math.Abs(x) < 1e-3 ? x + (x * x / 2) + (x * x * x / 6) + (x * x * x * x / 24) : Math.Exp(x) - 1;
        Assert.Equal(expected, ScalarMath.ExpM1(x), Math.Abs(expected) * 1e-15);
    }

    [Theory]
    [InlineData(1e-300)]
    [InlineData(1e-12)]
    [InlineData(-3e-9)]
    [InlineData(1e-4)]
    [InlineData(0.3)]
    [InlineData(1e10)]
    public void Log1P_MatchesTaylorSeriesOrLog(double x)
    {
        double expected = Math.Abs(x) < 1e-3 ? x - (x * x / 2) + (x * x * x / 3) - (x * x * x * x / 4) : Math.Log(1 + x);
        Assert.Equal(expected, ScalarMath.Log1P(x), Math.Abs(expected) * 1e-15);
    }

    [Fact]
    public void Inverses_RoundTrip()
    {
        foreach (double x in new[] { -0.7, -1e-8, 1e-9, 2.5 })
        {
            Assert.Equal(x, ScalarMath.Log1P(ScalarMath.ExpM1(x)), Math.Abs(x) * 4e-16);
        }
    }
}
