using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Networks;
using ImplicitBias.Flow.Models.Random;

namespace ImplicitBias.Flow.Models.Tests;

public class DeterminismTests
{
    [Fact]
    public void Xoshiro_MatchesReferenceSequence()
    {
        // Reference: SplitMix64 from state 0 gives 0xE220A8397B1DCDAF first (Vigna's splitmix64.c).
        ulong s = 0;
        Assert.Equal(0xE220A8397B1DCDAFUL, Xoshiro256StarStar.SplitMix64(ref s));
        var r1 = new Xoshiro256StarStar(42);
        var r2 = new Xoshiro256StarStar(42);
        for (int k = 0; k < 100; k++)
        {
            Assert.Equal(r1.NextUInt64(), r2.NextUInt64());
        }
    }

    [Fact]
    public void NormalSampler_HasStandardMoments()
    {
        var r = new Xoshiro256StarStar(1);
        const int n = 200_000;
        double sum = 0, sum2 = 0;
        for (int k = 0; k < n; k++)
        {
            double v = r.NextNormal();
            sum += v;
            sum2 += v * v;
        }

        Assert.InRange(sum / n, -0.01, 0.01);
        Assert.InRange(sum2 / n, 0.98, 1.02);
    }

    [Theory]
    [InlineData("gaussian")]
    [InlineData("xor")]
    public void SyntheticData_SameSeedSameBits_DifferentSeedDifferent(string name)
    {
        var a = SyntheticData.Create(name, 50, 7, 123);
        var b = SyntheticData.Create(name, 50, 7, 123);
        var c = SyntheticData.Create(name, 50, 7, 124);
        Assert.True(a.X.SequenceEqual(b.X) && a.Y.SequenceEqual(b.Y));
        Assert.False(a.X.SequenceEqual(c.X));
    }

    [Fact]
    public void Gaussian_IsSeparatedByMargin_XorIsBalancedAndSigned()
    {
        var g = SyntheticData.Gaussian(400, 3, 8, margin: 0.5);
        Assert.Contains(1.0, g.Y.ToArray());
        Assert.Contains(-1.0, g.Y.ToArray());
        var x = SyntheticData.Xor(400, 3, 8, margin: 0.5);
        for (int i = 0; i < x.Count; i++)
        {
            var xi = x.Input(i);
            Assert.Equal(Math.Sign(xi[0] * xi[1]), (int)x.Label(i));
            Assert.True(Math.Abs(xi[0]) >= 0.5 && Math.Abs(xi[1]) >= 0.5);
        }
    }

    [Fact]
    public void KaimingInit_SameSeedSameBits_HasRequestedScale()
    {
        var net = new FullyConnectedNetwork(400, [300], Activation.Relu);
        var a = Initialization.KaimingNormal(net.Layout, 5);
        var b = Initialization.KaimingNormal(net.Layout, 5);
        var c = Initialization.KaimingNormal(net.Layout, 6);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);

        // W1 entries have std α/√400 = 5e-4.
        var w1 = net.Layout.Slice(a.AsSpan(), 0).ToArray();
        double var1 = w1.Sum(v => v * v) / w1.Length;
        Assert.InRange(Math.Sqrt(var1), 5e-4 * 0.98, 5e-4 * 1.02);
    }

    [Fact]
    public void Init_RoundTripsThroughNpy()
    {
        var net = new FullyConnectedNetwork(5, [4, 3], Activation.Quadratic);
        var theta = Initialization.KaimingNormal(net.Layout, 77, 0.3);
        string path = Path.Combine(Path.GetTempPath(), $"ibflow-init-{Guid.NewGuid():N}.npy");
        try
        {
            ImplicitBias.Flow.Core.IO.Npy.WriteFile(path, theta);
            Assert.Equal(theta, Initialization.FromNpy(path, net.Layout));
            var other = new FullyConnectedNetwork(5, [4], Activation.Quadratic);
            Assert.Throws<InvalidDataException>(() => Initialization.FromNpy(path, other.Layout));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Dataset_RejectsBadLabelsAndShapes()
    {
        Assert.Throws<ArgumentException>(() => new Dataset(new double[] { 1, 2 }, new double[] { 0.5 }, 2));
        Assert.Throws<ArgumentException>(() => new Dataset(new double[] { 1, 2, 3 }, new double[] { 1 }, 2));
        Assert.Throws<ArgumentException>(() => new Dataset(new double[] { double.NaN, 2 }, new double[] { 1 }, 2));
    }
}
