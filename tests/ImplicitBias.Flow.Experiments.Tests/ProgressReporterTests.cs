using ImplicitBias.Flow.Experiments.Running;

namespace ImplicitBias.Flow.Experiments.Tests;

public class ProgressReporterTests
{
    [Fact]
    public void Redirected_WritesPlainLines_ThrottledByInterval()
    {
        using var w = new StringWriter();
        var r = new ProgressReporter(w, "adam", interactive: false, interval: TimeSpan.FromHours(1));
        for (int i = 0; i < 100; i++)
        {
            r.Report(new ProgressSample(i, -i, 0.1, i, 0, 6 * i));
        }

        r.Finish(new ProgressSample(100, -100, 0.1, 100, 2, 600), "target-reached");
        string[] lines = w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length); // first sample, final sample, status
        Assert.DoesNotContain("\r", w.ToString());
        Assert.Contains("logL=-100.000", lines[1]);
        Assert.Contains("(+2 rejected)", lines[1]);
        Assert.Equal("adam: target-reached", lines[2].TrimEnd());
    }

    [Fact]
    public void Interactive_RewritesOneLineInPlace()
    {
        using var w = new StringWriter();
        var r = new ProgressReporter(w, "ngd", interactive: true, interval: TimeSpan.Zero);
        r.Report(new ProgressSample(1, -1, 0.5, 1, 0, 6));
        r.Report(new ProgressSample(2, -2, 0.5, 2, 0, 12));
        Assert.Equal(2, w.ToString().Count(c => c == '\r'));
        Assert.DoesNotContain("\n", w.ToString());
    }
}
