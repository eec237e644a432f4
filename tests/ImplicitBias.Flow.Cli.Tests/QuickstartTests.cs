using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ImplicitBias.Flow.Cli.Tests;

/// <summary>
/// The quickstart as a new user runs it (<c>ibflow run</c>, no file): its output stays small (one shared plotly.js)
/// and its index.html draws every figure in headless Chromium with the network made unreachable. Chromium is a hard
/// requirement here as in the plotting tests (CI installs it).
/// </summary>
public sealed partial class QuickstartTests : IDisposable
{
    private const string ChromiumPath = "/usr/bin/chromium";
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-quickstart-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Quickstart_WritesUnder10MB_AndItsIndexRendersEveryFigureOffline()
    {
        string outDir = Path.Combine(_dir, "quickstart");
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.True(Program.Run(["run", "--out", outDir], output, error) == 0, error.ToString());

        // Measured: about 4.0 MB, of which 3.6 MB is the one plotly.js (94 MB when every page embedded its own).
        string[] files = Directory.GetFiles(outDir, "*", SearchOption.AllDirectories);
        long bytes = files.Sum(f => new FileInfo(f).Length);
        Assert.True(bytes < 10_000_000, $"The quickstart wrote {bytes} bytes.");
        Assert.Single(files, f => Path.GetFileName(f) == "plotly.min.js");

        string index = Path.Combine(outDir, "plots", "index.html");
        int figures = Regex.Count(File.ReadAllText(index), "<section class=\"figure\"");
        Assert.True(figures >= 8, $"{figures} figures on the index page.");
        string dom = RenderDom(index);
        Assert.Equal(figures, PlotContainer().Count(dom));
        Assert.True(TraceGroup().Count(dom) >= 2 * figures, "Some figure drew fewer than one line per optimizer.");
        Assert.Contains("<td>ngd (seed 1)</td><td>target-reached</td>", dom);
        Assert.Contains("<td>adam (seed 1)</td><td>target-reached</td>", dom);

        // Each run's own index loads the experiment's single copy from the top plots folder.
        Assert.Equal(figures, PlotContainer().Count(RenderDom(Path.Combine(outDir, "adam", "plots", "index.html"))));
    }

    private static string RenderDom(string htmlPath)
    {
        Assert.True(File.Exists(ChromiumPath), $"Chromium not found at {ChromiumPath}; install it (apt-get install -y chromium).");
        string profile = Directory.CreateTempSubdirectory("ibflow-chromium-").FullName;
        try
        {
            var psi = new ProcessStartInfo(ChromiumPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };

            // Everything that could reach the network is off or pointed at a dead proxy and resolver.
            foreach (string arg in new[]
            {
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
                $"--user-data-dir={profile}", "--virtual-time-budget=15000", "--dump-dom", new Uri(htmlPath).AbsoluteUri,
            })
            {
                psi.ArgumentList.Add(arg);
            }

            using Process p = Process.Start(psi) ?? throw new InvalidOperationException("Chromium did not start.");
            Task<string> stdout = p.StandardOutput.ReadToEndAsync();
            Task<string> stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromSeconds(90)))
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail($"Chromium timed out on {htmlPath}.");
            }

            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"Chromium exited with {p.ExitCode}: {stderr.Result}");
            return stdout.Result;
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }

    // One per drawn plot: plotly.js adds this container inside each chart's div.
    [GeneratedRegex("class=\"plot-container plotly\"")]
    private static partial Regex PlotContainer();

    [GeneratedRegex("<g class=\"trace scatter[ \"]")]
    private static partial Regex TraceGroup();
}
