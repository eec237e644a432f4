using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Core.Tests;

public class HostStateAlgebraTests
{
    private static readonly StateLayout TwoBlocks = new([new StateBlock("a", 11, 1e-3, 1e-6), new StateBlock("b", 5, 1e-2, 1e-4, ScaledAbsTol: 1e-3)]);

    private static HostState Ramp(int n, double scale) => new(Enumerable.Range(0, n).Select(i => scale * (i + 1)).ToArray());

    [Fact]
    public void Combine_SharedCoefficients_MatchesScalarLoop()
    {
        var algebra = new HostStateAlgebra(TwoBlocks);
        HostState y = Ramp(16, 1.0);
        HostState s0 = Ramp(16, 0.5);
        HostState s1 = Ramp(16, -2.0);
        HostState destination = algebra.Allocate();
        algebra.Combine(y, [2.0], [0.25, 3.0], [s0, s1], false, destination);
        for (int i = 0; i < 16; i++)
        {
            Assert.Equal((2.0 * y.Values[i]) + (0.25 * s0.Values[i]) + (3.0 * s1.Values[i]), destination.Values[i], 1e-12);
        }
    }

    [Fact]
    public void Combine_PerBlockCoefficients_UsesEachBlocksRowAndMayAliasY()
    {
        var algebra = new HostStateAlgebra(TwoBlocks);
        HostState y = Ramp(16, 1.0);
        double[] expected = new double[16];
        HostState stage = Ramp(16, 0.1);
        for (int i = 0; i < 16; i++)
        {
            expected[i] = i < 11 ? (0.5 * y.Values[i]) + (2 * stage.Values[i]) : (-1.0 * y.Values[i]) + (7 * stage.Values[i]);
        }

        algebra.Combine(y, [0.5, -1.0], [2.0, 7.0], [stage], true, y);
        for (int i = 0; i < 16; i++)
        {
            Assert.Equal(expected[i], y.Values[i], 1e-12);
        }
    }

    [Fact]
    public void ScaledSquareSum_SumsSquaredScaledErrorsWithEachBlocksTolerances()
    {
        var algebra = new HostStateAlgebra(TwoBlocks);
        HostState y0 = Ramp(16, 1.0);
        HostState y1 = Ramp(16, -1.5);
        HostState e = Ramp(16, 1e-4);
        double sum = 0;
        for (int i = 0; i < 16; i++)
        {
            double max = Math.Max(Math.Abs(y0.Values[i]), Math.Abs(y1.Values[i]));
            double sc = i < 11 ? 1e-6 + (1e-3 * max) : 0.5 + (1e-2 * max);
            sum += Math.Pow(e.Values[i] / sc, 2);
        }

        // The tolerances are the caller's (the controller's), not the layout's.
        Assert.Equal(sum, algebra.ScaledSquareSum(y0, y1, e, [1e-3, 1e-2], [1e-6, 0.5]), sum * 1e-13);
    }

    [Fact]
    public void BlockMaxAbs_WritesOnlyTheAskedBlocks()
    {
        var algebra = new HostStateAlgebra(TwoBlocks);
        HostState y = Ramp(16, -1.5);
        y.Values[3] = 40.0;
        double[] maxima = [-1.0, -1.0];
        algebra.BlockMaxAbs(y, [false, true], maxima);
        Assert.Equal([-1.0, 1.5 * 16], maxima);
        algebra.BlockMaxAbs(y, [true, false], maxima);
        Assert.Equal([40.0, 1.5 * 16], maxima);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void ScaledSquareSum_NonFiniteInput_IsNaN(int which)
    {
        var algebra = new HostStateAlgebra(StateLayout.Single(9));
        HostState[] states = [Ramp(9, 1.0), Ramp(9, 1.0), Ramp(9, 1.0)];
        Assert.True(double.IsFinite(algebra.ScaledSquareSum(states[0], states[1], states[2], [1e-6], [1e-6])));
        states[which].Values[8] = double.PositiveInfinity;
        Assert.True(double.IsNaN(algebra.ScaledSquareSum(states[0], states[1], states[2], [1e-6], [1e-6])));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(16)]
    public void AllFinite_DetectsNaNAndInfinityInVectorAndTail(int index)
    {
        var algebra = new HostStateAlgebra(StateLayout.Single(17));
        HostState y = Ramp(17, 1.0);
        Assert.True(algebra.AllFinite(y));
        y.Values[index] = double.NaN;
        Assert.False(algebra.AllFinite(y));
        y.Values[index] = double.NegativeInfinity;
        Assert.False(algebra.AllFinite(y));
    }

    [Fact]
    public void ReadWriteCopy_RoundTrip()
    {
        var algebra = new HostStateAlgebra(StateLayout.Single(5));
        HostState a = algebra.Allocate();
        algebra.Write([1, 2, 3, 4, 5], a);
        HostState b = algebra.Allocate();
        algebra.Copy(a, b);
        double[] read = new double[5];
        algebra.Read(b, read);
        Assert.Equal([1.0, 2, 3, 4, 5], read);
    }
}
