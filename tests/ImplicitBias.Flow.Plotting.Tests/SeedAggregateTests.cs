namespace ImplicitBias.Flow.Plotting.Tests;

public class SeedAggregateTests
{
    [Fact]
    public void TQuantile_MatchesClosedForms()
    {
        // dof 1 (Cauchy): t = tan(pi (p - 1/2)); dof 2: t = (2p - 1) / sqrt(2 p (1 - p)); p = 0.975.
        Assert.Equal(Math.Tan(Math.PI * 0.475), SeedAggregate.TQuantile(0.95, 1), 1e-9);
        Assert.Equal(0.95 / Math.Sqrt(2 * 0.975 * 0.025), SeedAggregate.TQuantile(0.95, 2), 1e-9);
        Assert.Equal(4.302652729911275, SeedAggregate.TQuantile(0.95, 2), 1e-9);
    }

    [Fact]
    public void Aggregate_ThreeSeeds_MeanAndBandByHand()
    {
        // At x = 1 the seeds read 1, 2, 3: mean 2, s = 1, half width t(.975, 2) / sqrt(3) = 2.4841...
        // At x = 0 they read 0, 0, 0: zero width. Seed 3 is sampled at other x but is linear, so exact.
        SampledSeries[] runs =
        [
            new([0.0, 1.0, 2.0], [0.0, 1.0, 2.0]),
            new([0.0, 2.0], [0.0, 4.0]),
            new([0.0, 0.5, 2.0], [0.0, 1.5, 6.0]),
        ];
        AggregatedSeries agg = SeedAggregate.Aggregate(runs, [0.0, 1.0]);
        double half = 0.95 / Math.Sqrt(2 * 0.975 * 0.025) / Math.Sqrt(3);
        Assert.Equal(2.4841377, half, 1e-6);
        Assert.Equal([0.0, 2.0], agg.Mean);
        Assert.Equal(0.0, agg.Lower[0]);
        Assert.Equal(0.0, agg.Upper[0]);
        Assert.Equal(2.0 - half, agg.Lower[1], 1e-12);
        Assert.Equal(2.0 + half, agg.Upper[1], 1e-12);
        Assert.Equal([3, 3], agg.Count);
    }

    [Fact]
    public void Aggregate_DecreasingX_LikeLoss_Interpolates()
    {
        // Loss falls over time, so x is decreasing; 0.5 lies halfway between 1.0 and 0.0 in both runs.
        SampledSeries[] runs = [new([1.0, 0.0], [10.0, 20.0]), new([1.0, 0.25, 0.0], [12.0, 14.0, 16.0])];
        AggregatedSeries agg = SeedAggregate.Aggregate(runs, [0.5]);
        // Run 2 at 0.5: between (1, 12) and (0.25, 14): 12 + (0.5/0.75) * 2 = 13.3333.
        double r2 = 12 + (2.0 / 3.0 * 2);
        Assert.Equal((15 + r2) / 2, agg.Mean[0], 1e-12);
        double s = Math.Abs(15 - r2) / Math.Sqrt(2);
        double t1 = Math.Tan(Math.PI * 0.475);
        Assert.Equal(agg.Mean[0] + (t1 * s / Math.Sqrt(2)), agg.Upper[0], 1e-9);
    }

    [Fact]
    public void Aggregate_LogXInterpolation_IsLinearInLogX()
    {
        SampledSeries[] runs = [new([1.0, 100.0], [0.0, 2.0])];
        AggregatedSeries agg = SeedAggregate.Aggregate(runs, [10.0], interpolateInLogX: true);
        Assert.Equal(1.0, agg.Mean[0], 1e-12);
        // One run: mean known, spread unknown, so the band is a gap.
        Assert.True(double.IsNaN(agg.Lower[0]) && double.IsNaN(agg.Upper[0]));
    }

    [Fact]
    public void Aggregate_NoExtrapolation_CountsOnlyCoveringRuns()
    {
        SampledSeries[] runs = [new([0.0, 1.0], [1.0, 1.0]), new([0.0, 3.0], [5.0, 5.0])];
        AggregatedSeries agg = SeedAggregate.Aggregate(runs, [0.5, 2.0, 4.0]);
        Assert.Equal([2, 1, 0], agg.Count);
        Assert.Equal(3.0, agg.Mean[0]);
        Assert.Equal(5.0, agg.Mean[1]);
        Assert.True(double.IsNaN(agg.Mean[2]));
    }

    [Fact]
    public void CommonGrid_SpansOverlap_LinearAndLog()
    {
        SampledSeries[] runs = [new([0.001, 1.0], [0.0, 1.0]), new([10.0, 0.01], [0.0, 1.0])];
        double[] lin = SeedAggregate.CommonGrid(runs, 3);
        Assert.Equal([0.01, 0.505, 1.0], lin);
        double[] log = SeedAggregate.CommonGrid(runs, 3, logSpaced: true);
        Assert.Equal(0.01, log[0]);
        Assert.Equal(0.1, log[1], 1e-15);
        Assert.Equal(1.0, log[2]);
        Assert.Throws<ArgumentException>(() => SeedAggregate.CommonGrid([new([0.0, 1.0], [0.0, 0.0]), new([2.0, 3.0], [0.0, 0.0])], 5));
    }

    [Fact]
    public void NonMonotoneX_IsRejected()
    {
        Assert.Throws<ArgumentException>(() => SeedAggregate.Aggregate([new([0.0, 2.0, 1.0], [0.0, 0.0, 0.0])], [0.5]));
    }

    [Fact]
    public void ToLineSeries_CarriesBand()
    {
        AggregatedSeries agg = SeedAggregate.Aggregate([new([0.0, 1.0], [0.0, 1.0]), new([0.0, 1.0], [2.0, 3.0])], [0.0, 1.0]);
        LineSeries s = agg.ToLineSeries("margin");
        Assert.True(s.HasBand);
        Assert.Equal("margin", s.Name);
        Assert.Equal([1.0, 2.0], s.Y);
        s.Validate();
    }
}
