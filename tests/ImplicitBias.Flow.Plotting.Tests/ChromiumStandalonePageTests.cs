namespace ImplicitBias.Flow.Plotting.Tests;

/// <summary>A self-contained page (a sweep's report: plotly.js inlined) renders offline, alone in its folder.</summary>
public sealed partial class ChromiumRenderTests
{
    [Fact]
    public void StandalonePage_RendersEveryPanelOffline_WithNoScriptBesideIt()
    {
        FigureSpec band = SampleFigures.BandWithReference(), margins = SampleFigures.MarginsAgainstLoss();

        // A Fig. 1a panel as the report draws it: each optimizer's mean as a short line over its slot, CI as a band.
        var ci = new FigureSpec("Fig. 1a: final hard margin", "optimizer: 1 = ngd, 2 = adam", "margin",
        [
            new LineSeries("ngd (flow)", [0.6, 0.95], [1.0, 1.0]) { Lower = [0.9, 0.9], Upper = [1.1, 1.1] },
            new LineSeries("adam (discrete)", [2.05, 2.4], [0.5, 0.5]) { Lower = [0.45, 0.45], Upper = [0.55, 0.55], Dash = LineDash.Dash },
        ]);
        var page = new PlotPage("Report test", [("band", band), ("margins", margins), ("ci", ci)])
        {
            Table = new PageTable(["finding", "verdict"], [["NGD has the largest ℓ2 margin", "holds"]]),
        };

        string folder = Path.Combine(ArtifactDir, "standalone");
        Directory.CreateDirectory(folder);
        string html = Path.Combine(folder, "report.html");
        File.WriteAllText(html, PlotlyRenderer.ToStandalonePageHtml(page));
        Assert.False(File.Exists(Path.Combine(folder, PlotlyRenderer.ScriptFileName)));
        string dom = RunChromium(html, "--dump-dom");

        Assert.Equal(3, PlotContainer().Count(dom));
        Assert.Equal(PlotlyRenderer.TraceCount(band) + PlotlyRenderer.TraceCount(margins) + PlotlyRenderer.TraceCount(ci), ScatterTraceGroups(dom));
        Assert.Contains("<td>holds</td>", dom);
    }
}
