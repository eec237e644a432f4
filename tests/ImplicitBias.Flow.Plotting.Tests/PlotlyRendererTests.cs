using System.Text.RegularExpressions;

namespace ImplicitBias.Flow.Plotting.Tests;

public sealed class PlotlyRendererTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-plot-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void WriteHtml_IsSelfContained_NoRemoteScript()
    {
        string path = Path.Combine(_dir, "fig.html");
        PlotlyRenderer.WriteHtml(path, SampleFigures.BandWithReference());
        string html = File.ReadAllText(path);

        // plotly.js source is inline (its banner and a core function), not fetched.
        Assert.Contains("plotly.js v", html);
        Assert.Contains("Plotly.newPlot", html);
        Assert.True(html.Length > 1_000_000, $"Expected the ~4 MB inline library, got {html.Length} chars.");
        Assert.DoesNotMatch(new Regex("<script[^>]*src\\s*=\\s*[\"']?(https?:)?//", RegexOptions.IgnoreCase), html);
        Assert.Single(Directory.GetFiles(_dir));

        // Labels are UTF-8 (γ, ‖θ‖): the page must say so, or a browser shows them as Latin-1 mojibake.
        Assert.Contains("<head><meta charset=\"utf-8\">", html);
    }

    [Fact]
    public void Html_CarriesSeriesLayoutAndReferenceLine()
    {
        string html = PlotlyRenderer.ToHtml(SampleFigures.MarginsAgainstLoss() with
        {
            ReferenceLines = [new ReferenceLine(1.0, "limit")],
            LogY = true,
        });
        Assert.Contains("\"normalized margin\"", html);
        Assert.Contains("\"type\":\"log\"", html);
        Assert.Contains("\"autorange\":\"reversed\"", html);
        Assert.Contains("\"dash\":\"dash\"", html);
        Assert.Contains("\"text\":\"limit\"", html);
        // Annotation on a log y axis is placed at log10(1) = 0, the shape at the data value 1.
        Assert.Contains("\"y\":0.0", html);
    }

    [Fact]
    public void Band_UsesTonextyWithTransparentEdges_AndNonFiniteBecomesNull()
    {
        var fig = new FigureSpec("t", "x", "y",
            [new LineSeries("m", [1.0, 2.0, 3.0], [1.0, double.NaN, 3.0]) { Lower = [0.5, 1.5, 2.5], Upper = [1.5, 2.5, 3.5] }]);
        Assert.Equal(3, PlotlyRenderer.TraceCount(fig));
        string html = PlotlyRenderer.ToHtml(fig);
        Assert.Contains("\"fill\":\"tonexty\"", html);
        Assert.Contains("rgba(0,0,0,0)", html);
        Assert.Contains("rgba(31,119,180,0.2)", html);
        Assert.Contains("[1.0,null,3.0]", html);
        Assert.DoesNotContain("[1.0,NaN", html);
    }

    [Fact]
    public void InconsistentSeries_AreRejected()
    {
        Assert.Throws<ArgumentException>(() => PlotlyRenderer.ToHtml(new FigureSpec("t", "x", "y", [new LineSeries("a", [1.0, 2.0], [1.0])])));
        Assert.Throws<ArgumentException>(() => PlotlyRenderer.ToHtml(new FigureSpec("t", "x", "y", [new LineSeries("a", [1.0], [1.0]) { Lower = [0.0] }])));
    }
}
