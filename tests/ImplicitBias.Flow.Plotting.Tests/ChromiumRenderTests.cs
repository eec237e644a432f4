using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ImplicitBias.Flow.Plotting.Tests;

/// <summary>
/// Loads generated plots (single figures and an index page, loading the shared plotly.min.js from disk) in headless
/// Chromium with networking made impossible, and checks that plotly.js actually drew them: the SVG exists and holds one scatter trace group per expected trace. Chromium is a
/// hard requirement (CI installs it); its absence fails the test rather than skipping it.
/// </summary>
// One collection: two Chromium instances at once on a small, busy machine starve each other into timeouts.
[Collection("chromium")]
public sealed partial class ChromiumRenderTests
{
    private const string ChromiumPath = "/usr/bin/chromium";

    // Kept beside the test binaries so CI (or a person) can look at what was rendered.
    internal static readonly string ArtifactDir = Path.Combine(AppContext.BaseDirectory, "chromium-artifacts");

    [Fact]
    public void BandWithReference_RendersFillMeanAndReferenceLine()
    {
        FigureSpec fig = SampleFigures.BandWithReference();
        string dom = RenderDom(fig, "band-3-seeds", screenshot: true);

        // Band lower + band upper + mean + seed 0.
        Assert.Equal(PlotlyRenderer.TraceCount(fig), ScatterTraceGroups(dom));
        Assert.Equal(4, ScatterTraceGroups(dom));
        // The filled band is a path with class "js-fill" holding real geometry.
        Assert.Matches("<path class=\"js-fill\"[^>]*d=\"M[0-9]", dom);
        // The reference line is a layout shape, and its label is drawn as an annotation.
        Assert.Matches("<g class=\"shapelayer\"[^>]*><g[^>]*><path", dom);
        Assert.Contains("predicted limit", dom);
        Assert.Contains("mean of 3 seeds", dom);
        Assert.True(new FileInfo(Path.Combine(ArtifactDir, "band-3-seeds.png")).Length > 10_000, "Screenshot is missing or blank.");
    }

    [Fact]
    public void IndexPage_RendersEveryFigureOffline_FromTheSharedScript()
    {
        FigureSpec band = SampleFigures.BandWithReference(), margins = SampleFigures.MarginsAgainstLoss();
        var page = new PlotPage("Index test", [("band", band), ("margins", margins)])
        {
            Table = new PageTable(["run", "status"], [["ngd", "target-reached"]]),
        };

        // A page one folder below the shared script, as a run's plots load the experiment's single copy.
        Directory.CreateDirectory(ArtifactDir);
        string html = Path.Combine(ArtifactDir, "index-run", "index.html");
        PlotlyRenderer.WritePage(html, page, ArtifactDir);
        string dom = RunChromium(html, "--dump-dom");

        // Every figure drew its own plot with all its traces, and the table is there.
        Assert.Equal(2, PlotContainer().Count(dom));
        Assert.Equal(PlotlyRenderer.TraceCount(band) + PlotlyRenderer.TraceCount(margins), ScatterTraceGroups(dom));
        Assert.Contains("<td>target-reached</td>", dom);
        Assert.Contains("mean of 3 seeds", dom);
        Assert.Contains("Margins against loss", dom);
    }

    internal static int ScatterTraceGroups(string dom) => TraceGroup().Count(dom);

    internal static string RenderDom(FigureSpec fig, string name, bool screenshot = false)
    {
        Directory.CreateDirectory(ArtifactDir);
        string html = Path.Combine(ArtifactDir, name + ".html");
        PlotlyRenderer.WriteHtml(html, fig);

        string dom = RunChromium(html, "--dump-dom");
        Assert.Contains("class=\"main-svg\"", dom);
        if (screenshot)
        {
            RunChromium(html, $"--screenshot={Path.Combine(ArtifactDir, name + ".png")}", "--window-size=1200,800");
        }

        return dom;
    }

    private static string RunChromium(string htmlPath, params string[] extra)
    {
        Assert.True(File.Exists(ChromiumPath),
            $"Chromium not found at {ChromiumPath}; install it (apt-get install -y chromium) to run the plot render tests.");
        string profile = Directory.CreateTempSubdirectory("ibflow-chromium-").FullName;
        try
        {
            var psi = new ProcessStartInfo(ChromiumPath)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string arg in NetworkOffArgs(profile).Concat(extra))
            {
                psi.ArgumentList.Add(arg);
            }

            psi.ArgumentList.Add(new Uri(htmlPath).AbsoluteUri);
            using Process p = Process.Start(psi) ?? throw new InvalidOperationException("Chromium did not start.");
            Task<string> stdout = p.StandardOutput.ReadToEndAsync();
            Task<string> stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail($"Chromium timed out on {htmlPath}. stderr: {stderr.Result}");
            }

            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"Chromium exited with {p.ExitCode}. stderr: {stderr.Result}");
            return stdout.Result;
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }

    // Everything that could reach the network is disabled or pointed at a dead proxy/resolver, so a file
    // that needed a CDN would render nothing and fail the trace count.
    private static string[] NetworkOffArgs(string profile) =>
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
        $"--user-data-dir={profile}", "--virtual-time-budget=10000",
    ];

    [GeneratedRegex("<g class=\"trace scatter[ \"]")]
    private static partial Regex TraceGroup();

    // One per drawn plot: plotly.js adds this container inside each chart's div.
    [GeneratedRegex("class=\"plot-container plotly\"")]
    private static partial Regex PlotContainer();
}

/// <summary>The log-axis figure; shares the "chromium" collection so the browser runs are not concurrent.</summary>
[Collection("chromium")]
public sealed class ChromiumLogAxisRenderTests
{
    [Fact]
    public void MarginsAgainstLoss_RendersTwoTracesOnLogAxis()
    {
        FigureSpec fig = SampleFigures.MarginsAgainstLoss();
        string dom = ChromiumRenderTests.RenderDom(fig, "margins-vs-loss");

        Assert.Equal(2, ChromiumRenderTests.ScatterTraceGroups(dom));
        Assert.Contains("Margins against loss", dom);
        Assert.Contains("training loss", dom);
        // Log axis ticks with exponentformat 'power' are written as 10 with a superscript exponent.
        Assert.Contains("data-unformatted=\"10&lt;sup&gt;", dom);
    }
}
