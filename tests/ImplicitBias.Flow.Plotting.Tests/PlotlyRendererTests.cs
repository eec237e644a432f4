using System.Text.RegularExpressions;

namespace ImplicitBias.Flow.Plotting.Tests;

public sealed class PlotlyRendererTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-plot-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void WriteHtml_LoadsOneSharedLocalScript_NoRemoteScript()
    {
        string first = Path.Combine(_dir, "fig.html");
        PlotlyRenderer.WriteHtml(first, SampleFigures.BandWithReference());
        PlotlyRenderer.WriteHtml(Path.Combine(_dir, "other.html"), SampleFigures.MarginsAgainstLoss());
        string html = File.ReadAllText(first);

        // The figure loads plotly.js from the file beside it; the library is written once for the folder.
        Assert.Contains("<script src=\"plotly.min.js\"", html);
        Assert.Contains("Plotly.newPlot", html);
        Assert.True(html.Length < 100_000, $"Expected a small page without the library, got {html.Length} chars.");
        Assert.DoesNotMatch(new Regex("<script[^>]*src\\s*=\\s*[\"']?(https?:)?//", RegexOptions.IgnoreCase), html);
        Assert.Equal(["fig.html", "other.html", "plotly.min.js", "plotly.min.js.LICENSE.txt"], Directory.GetFiles(_dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        string script = File.ReadAllText(Path.Combine(_dir, "plotly.min.js"));
        Assert.True(script.Length > 1_000_000, $"Expected the ~3.6 MB library, got {script.Length} chars.");
        Assert.Contains("Plotly", script);

        // Labels are UTF-8 (γ, ‖θ‖): the page must say so, or a browser shows them as Latin-1 mojibake.
        Assert.Contains("<head><meta charset=\"utf-8\">", html);
    }

    [Fact]
    public void WriteHtml_ElsewhereScript_IsLoadedByARelativePath()
    {
        string page = Path.Combine(_dir, "runs", "a b", "plots", "fig.html");
        string shared = Path.Combine(_dir, "runs", "plots");
        PlotlyRenderer.WriteHtml(page, SampleFigures.MarginsAgainstLoss(), shared);

        Assert.Contains("<script src=\"../../plots/plotly.min.js\"", File.ReadAllText(page));
        Assert.True(File.Exists(Path.Combine(shared, "plotly.min.js")));
        Assert.False(File.Exists(Path.Combine(_dir, "runs", "a b", "plots", "plotly.min.js")));
    }

    [Fact]
    public void WritePage_HasEveryFigureAndTheEscapedTable()
    {
        var page = new PlotPage("Run <1>", [("band", SampleFigures.BandWithReference()), ("margins", SampleFigures.MarginsAgainstLoss())])
        {
            Table = new PageTable(["run", "log L"], [["ngd & co", "-40"], ["adam", "-12.5"]]),
            Notes = ["order 1.00"],
        };
        string path = Path.Combine(_dir, "index.html");
        PlotlyRenderer.WritePage(path, page);
        string html = File.ReadAllText(path);

        Assert.Equal(1, Regex.Count(html, "<script src="));
        Assert.Equal(2, Regex.Count(html, "Plotly.newPlot"));
        Assert.Contains("<section class=\"figure\" id=\"band\">", html);
        Assert.Contains("<section class=\"figure\" id=\"margins\">", html);
        Assert.Contains("<h1>Run &lt;1&gt;</h1>", html);
        Assert.Contains("<tr><td>ngd &amp; co</td><td>-40</td></tr>", html);
        Assert.Contains("<p>order 1.00</p>", html);
        Assert.True(File.Exists(Path.Combine(_dir, "plotly.min.js")));
        Assert.Throws<ArgumentException>(() => PlotlyRenderer.ToPageHtml(page with { Table = new PageTable(["a", "b"], [["only one"]]) }));
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
