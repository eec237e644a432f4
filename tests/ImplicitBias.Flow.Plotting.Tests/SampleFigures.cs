namespace ImplicitBias.Flow.Plotting.Tests;

/// <summary>Figures shaped like the ones the product draws.</summary>
internal static class SampleFigures
{
    /// <summary>Margins against loss: log x, loss falling left to right, two lines, no band.</summary>
    public static FigureSpec MarginsAgainstLoss()
    {
        double[] loss = [.. Enumerable.Range(0, 60).Select(i => Math.Pow(10, -6.0 * i / 59))];
        double[] normalized = [.. loss.Select(l => 1 - (0.8 * Math.Pow(l, 0.15)))];
        double[] minimum = [.. loss.Select(l => 0.9 - (0.9 * Math.Pow(l, 0.1)))];
        return new FigureSpec("Margins against loss", "training loss", "margin",
            [new LineSeries("normalized margin", loss, normalized), new LineSeries("min margin", loss, minimum) { Dash = LineDash.Dash }])
        {
            LogX = true,
            ReverseX = true,
        };
    }

    /// <summary>Three seeds sampled at different times, aggregated with a 95% band, plus the predicted limit y = 1.</summary>
    public static FigureSpec BandWithReference()
    {
        var runs = new List<SampledSeries>();
        for (int seed = 0; seed < 3; seed++)
        {
            int n = 30 + (7 * seed);
            double[] t = [.. Enumerable.Range(0, n).Select(i => 10.0 * i / (n - 1))];
            double[] y = [.. t.Select(ti => 1 - (Math.Exp(-ti / (1.5 + (0.4 * seed))) * (1 + (0.1 * seed))))];
            runs.Add(new SampledSeries(t, y));
        }

        double[] grid = SeedAggregate.CommonGrid(runs, 80);
        AggregatedSeries agg = SeedAggregate.Aggregate(runs, grid);
        return new FigureSpec("Normalized margin, 3 seeds", "time t", "normalized margin",
            [agg.ToLineSeries("mean of 3 seeds"), new LineSeries("seed 0", runs[0].X, runs[0].Y) { Dash = LineDash.Dot }])
        {
            ReferenceLines = [new ReferenceLine(1.0, "predicted limit")],
        };
    }
}
