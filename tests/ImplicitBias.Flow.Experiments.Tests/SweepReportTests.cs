using System.Text.Json.Nodes;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Experiments.Outputs;
using ImplicitBias.Flow.Experiments.Reports;
using ImplicitBias.Flow.Experiments.Sweeps;

namespace ImplicitBias.Flow.Experiments.Tests;

/// <summary>The report's verdicts (CI separation over seeds) on made-up runs, and the report of a tiny sweep.</summary>
public sealed class SweepReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-report-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static ReportRun Run(string optimizer, ulong seed, double l2, double linf = 0, double msp = 0, double cosine = 0.999, string kind = "flow", string status = "target-reached") =>
        new($"{optimizer}/seed{seed}", optimizer, seed, kind, "relu-q", status, true,
            new Dictionary<ObservedNorm, double> { [ObservedNorm.L2] = l2, [ObservedNorm.LInf] = linf, [ObservedNorm.Msp] = msp, [ObservedNorm.Own] = l2 },
            new Dictionary<ObservedNorm, double> { [ObservedNorm.L2] = double.NaN, [ObservedNorm.LInf] = double.NaN, [ObservedNorm.Msp] = double.NaN, [ObservedNorm.Own] = double.NaN },
            cosine, null);

    private static Finding Row(IReadOnlyList<Finding> findings, string start, string kind = "flow") =>
        Assert.Single(findings, f => f.Name.StartsWith(start, StringComparison.Ordinal) && f.Name.EndsWith($"; {kind}]", StringComparison.Ordinal));

    [Fact]
    public void Ngd_SeparatedAbove_Holds_Reversed_DoesNotHold_Overlapping_IsInconclusive()
    {
        ReportRun[] separated = [Run("ngd", 1, 1.0), Run("ngd", 2, 1.1), Run("ngd", 3, 1.05), Run("adam", 1, 0.5), Run("adam", 2, 0.52), Run("adam", 3, 0.51)];
        Assert.Equal(Findings.Holds, Row(Findings.Evaluate(separated), "NGD (with").Verdict);

        ReportRun[] reversed = [Run("ngd", 1, 0.5), Run("ngd", 2, 0.52), Run("ngd", 3, 0.51), Run("adam", 1, 1.0), Run("adam", 2, 1.1), Run("adam", 3, 1.05)];
        Assert.Equal(Findings.DoesNotHold, Row(Findings.Evaluate(reversed), "NGD (with").Verdict);

        ReportRun[] overlapping = [Run("ngd", 1, 1.0), Run("ngd", 2, 0.4), Run("adam", 1, 0.9), Run("adam", 2, 0.5)];
        Finding row = Row(Findings.Evaluate(overlapping), "NGD (with");
        Assert.Equal(Findings.Inconclusive, row.Verdict);
        Assert.Contains("overlap", row.Statistic, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingOptimizers_OneSeed_AndRunsShortOfTheTarget_AreInconclusiveWithTheReason()
    {
        IReadOnlyList<Finding> f = Findings.Evaluate([Run("ngd", 1, 1.0), Run("adam", 1, 0.5)]);
        Assert.Contains("two seeds", Row(f, "NGD (with").Statistic, StringComparison.Ordinal);
        Assert.Contains("signum not in the sweep", Row(f, "Signum's").Statistic, StringComparison.Ordinal);
        Assert.Contains("muon", Row(f, "Muon has").Statistic, StringComparison.Ordinal);
        Assert.All(f, x => Assert.Contains(x.Verdict, new[] { Findings.Holds, Findings.DoesNotHold, Findings.Inconclusive }));

        IReadOnlyList<Finding> shortRuns = Findings.Evaluate([Run("ngd", 1, 1.0, status: "max-time"), Run("ngd", 2, 1.1, status: "max-time"), Run("adam", 1, 0.5), Run("adam", 2, 0.5)]);
        Assert.Contains("reached the target", Row(shortRuns, "NGD (with").Statistic, StringComparison.Ordinal);
    }

    [Fact]
    public void SignumAboveAdam_Cosine_AndDiscreteAgreement()
    {
        ReportRun[] runs =
        [
            Run("signum", 1, 0.1, linf: 2.0), Run("signum", 2, 0.1, linf: 2.1), Run("adam", 1, 0.1, linf: 1.0), Run("adam", 2, 0.1, linf: 1.02, cosine: 0.95),
            Run("signum", 1, 0.1, linf: 1.0, kind: "discrete"), Run("signum", 2, 0.1, linf: 1.01, kind: "discrete"), Run("adam", 1, 0.1, linf: 2.0, kind: "discrete"), Run("adam", 2, 0.1, linf: 2.02, kind: "discrete"),
        ];
        IReadOnlyList<Finding> f = Findings.Evaluate(runs);
        Assert.Equal(Findings.Holds, Row(f, "Signum's").Verdict);
        Assert.Equal(Findings.DoesNotHold, Row(f, "Signum's", "discrete").Verdict);
        Finding cosine = Row(f, "cosine");
        Assert.Equal(Findings.DoesNotHold, cosine.Verdict);
        Assert.Contains("adam/seed2", cosine.Statistic, StringComparison.Ordinal);
        Assert.Equal(Findings.Holds, Row(f, "cosine", "discrete").Verdict);
        Assert.Equal(Findings.DoesNotHold, Assert.Single(f, x => x.Name.StartsWith("discrete runs agree with their flows: Signum's", StringComparison.Ordinal)).Verdict);
    }

    [Fact]
    public void ReportOfATinySweep_HasEveryPanel_AndAVerdictPerRow()
    {
        string sweep = Path.Combine(_dir, "s.json");
        File.WriteAllText(sweep, """
        {
          "Name": "r",
          "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 3 },
          "Model": { "Depth": 2, "Width": 4, "Activation": "relu-q", "InitScale": 0.5 },
          "Optimizers": [ { "Name": "ngd", "Eta0": 1.5 }, { "Name": "signum", "Eta0": 0.05 } ],
          "Seeds": [1, 2],
          "Sweep": { "Solver:Method": ["auto", "discrete"] },
          "Solver": { "Backend": "cpu" },
          "Stop": { "TargetLogLoss": -3, "MaxTime": 200 },
          "Save": { "PointsPerDecade": 4 },
          "Outputs": { "Plots": false, "Npy": false }
        }
        """);
        string outDir = Path.Combine(_dir, "out");
        new SweepRunner(SweepPlan.Load(sweep), outDir, TextWriter.Null).Run();
        string html = Path.Combine(outDir, "report.html");
        IReadOnlyList<Finding> findings = SweepReport.Write(outDir, html);
        Assert.NotEmpty(findings);
        string text = File.ReadAllText(html);
        Assert.DoesNotContain("<script src=", text, StringComparison.Ordinal);
        Assert.Contains("Fig. 1a", text, StringComparison.Ordinal);
        Assert.Contains("Fig. 1b", text, StringComparison.Ordinal);
        JsonNode report = JsonOutput.Read(Path.Combine(outDir, "report.json"));
        Assert.Equal(8, report["runs"]!.AsArray().Count);
        Assert.Equal(findings.Count, report["findings"]!.AsArray().Count);
        Assert.All(report["findings"]!.AsArray(), f => Assert.Contains(f!["verdict"]!.GetValue<string>(), new[] { Findings.Holds, Findings.DoesNotHold, Findings.Inconclusive }));
        // Per setting: hard margins in 4 norms, soft margins in 4, the cosine panel, margins against the loss in 3.
        Assert.Equal(12, SweepReport.Figures(ReportRun.ReadAll(outDir)).Count);
    }

    [Fact]
    public void PairedDifferences_DecideWhereTheIntervalsOverlap()
    {
        // Seed-to-seed spread is large, but NGD is above Adam by 0.1 ± 0.01 on every seed (same data and θ(0) per seed).
        ReportRun[] runs = [Run("ngd", 1, 1.00), Run("ngd", 2, 2.01), Run("ngd", 3, 3.00), Run("adam", 1, 0.90), Run("adam", 2, 1.90), Run("adam", 3, 2.91)];
        Finding row = Row(Findings.Evaluate(runs), "NGD (with");
        Assert.Equal(Findings.Holds, row.Verdict);
        Assert.Contains("paired over 3 seeds", row.Statistic, StringComparison.Ordinal);

        ReportRun[] below = [Run("ngd", 1, 0.90), Run("ngd", 2, 1.90), Run("ngd", 3, 2.91), Run("adam", 1, 1.00), Run("adam", 2, 2.01), Run("adam", 3, 3.00)];
        Assert.Equal(Findings.DoesNotHold, Row(Findings.Evaluate(below), "NGD (with").Verdict);
    }

    [Fact]
    public void MuonAdamNorm_OnEveryRunsTheta_EqualsMuonAdamsOwnMargin_AndGivesAVerdict()
    {
        string sweep = Path.Combine(_dir, "c.json");
        File.WriteAllText(sweep, """
        {
          "Name": "c",
          "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 5 },
          "Model": { "Depth": 2, "Width": 4, "Activation": "relu-q", "InitScale": 0.5 },
          "Optimizers": [ { "Name": "ngd", "Eta0": 1.5 }, { "Name": "muon-adam", "MuonEta0": 0.3, "AdamEta0": 0.6 } ],
          "Seeds": [1, 2],
          "Sweep": { "Model:Width": [4] },
          "Solver": { "Backend": "cpu" },
          "Stop": { "TargetLogLoss": -3, "MaxTime": 200 },
          "Save": { "PointsPerDecade": 4 },
          "Outputs": { "Plots": false }
        }
        """);
        string outDir = Path.Combine(_dir, "out");
        new SweepRunner(SweepPlan.Load(sweep), outDir, TextWriter.Null).Run();
        IReadOnlyList<ReportRun> runs = ReportRun.ReadAll(outDir);
        CompositeMargin norm = Assert.Single(CompositeMargin.In(runs));
        Assert.Equal(2.0, norm.MatrixWeight, 12); // η0ᴬ/η0ᴹ
        foreach (ReportRun run in runs.Where(r => r.Optimizer == "muon-adam"))
        {
            // Muon-Adam's own norm is Theorem 3.7's: its summary's "own" margin is the composite margin of its θ.
            Assert.Equal(run.Margins[ObservedNorm.Own], norm.Of(run), 1e-9 * Math.Abs(run.Margins[ObservedNorm.Own]));
        }

        foreach (ReportRun run in runs.Where(r => r.Optimizer == "ngd"))
        {
            Assert.True(double.IsFinite(norm.Of(run)), run.Folder);
            Assert.NotEqual(run.Margins[ObservedNorm.L2], norm.Of(run));
        }

        Finding row = Row(Findings.Evaluate(runs), "Muon-Adam has the largest");
        Assert.DoesNotContain("not computed", row.Statistic, StringComparison.Ordinal);
        Assert.Contains("muon-adam", row.Values.Keys);
        Assert.Contains("ngd", row.Values.Keys);
    }
}
