using ImplicitBias.Flow.Analysis.Observers;
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
        // A Muon-Adam trajectory has one momentum relation per part; Lemma C.19's curves must appear for both parts,
        // also after trajectory.csv (momentumRatio_muon, momentumRatio_adam) is written and read back.
        double[] t = [0.001, 0.01, 0.1, 1], muon = [0.1, 0.5, 0.9, 0.99], adam = [0.2, 0.6, 0.95, 1.0];
        var trajectory = new Trajectory(Enumerable.Range(0, 4).Select(i => new Observation
        {
            Time = t[i],
            LogLoss = 1.0 - i,
            Sigma = 1.0 - i,
            EtaIntegral = t[i],
            Eta = 1,
            Counters = new SolverCounters(0.1, i, 0, 4 * i),
            MinMargin = double.NaN,
            PhiInverse = double.NaN,
            Norms = [new NormObservation(ObservedNorm.Own, double.NaN, double.NaN, double.NaN, 0.5 + (0.1 * i), double.NaN)],
            DriftLInfOverEtaIntegral = double.NaN,
            Speed = double.NaN,
            RSpeed = double.NaN,
            REta = double.NaN,
            Parts = [new PartObservation("muon", muon[i], 0, 1, null), new PartObservation("adam", adam[i], 0, 1, new SecondMomentObservation(1, 0))],
            PatternChanges = null,
            SignSwitches = 0,
        }));
        string path = Path.Combine(_dir, "trajectory.csv");
        TrajectoryFormat.WriteCsv(trajectory, path);
        Assert.Contains("momentumRatio_muon", File.ReadLines(path).First(), StringComparison.Ordinal);
        foreach (Trajectory run in new[] { trajectory, TrajectoryFormat.ReadCsv(path) })
        {
            (string _, FigureSpec ratios) = RunPlots.Figures([new PlottedRun("muon-adam", run)]).Single(f => f.Name == "ratios");
            Assert.Contains(ratios.Series, s => s.Name.Contains("of muon (Lemma C.19)", StringComparison.Ordinal) && s.Y.SequenceEqual(muon));
            Assert.Contains(ratios.Series, s => s.Name.Contains("of adam (Lemma C.19)", StringComparison.Ordinal) && s.Y.SequenceEqual(adam));
        }
    }
}
