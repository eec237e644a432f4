using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Experiments.Outputs;
using ImplicitBias.Flow.Plotting;

namespace ImplicitBias.Flow.Experiments.Tests;

public sealed class RunPlotsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-plots-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void CompositeFlow_GetsOneMomentumRatioLinePerPart()
    {
        // A Muon-Adam trajectory writes momentumRatio_<part>; Lemma C.19's curves must appear for both parts.
        string path = Path.Combine(_dir, "trajectory.csv");
        var csv = new CsvTableWriter();
        csv.AddColumn("t", [0.001, 0.01, 0.1, 1]);
        csv.AddColumn("logLoss", [1.0, 0.0, -1.0, -2.0]);
        csv.AddColumn("normOverEtaIntegral_own", [0.5, 0.6, 0.7, 0.8]);
        csv.AddColumn("momentumRatio_muon", [0.1, 0.5, 0.9, 0.99]);
        csv.AddColumn("momentumRatio_adam", [0.2, 0.6, 0.95, 1.0]);
        csv.Write(path);
        (string _, FigureSpec ratios) = RunPlots.Figures([new PlottedRun("muon-adam", CsvTable.Read(path))]).Single(f => f.Name == "ratios");
        Assert.Contains(ratios.Series, s => s.Name.Contains("of muon (Lemma C.19)", StringComparison.Ordinal) && s.Y.SequenceEqual([0.1, 0.5, 0.9, 0.99]));
        Assert.Contains(ratios.Series, s => s.Name.Contains("of adam (Lemma C.19)", StringComparison.Ordinal) && s.Y.SequenceEqual([0.2, 0.6, 0.95, 1.0]));
    }
}
