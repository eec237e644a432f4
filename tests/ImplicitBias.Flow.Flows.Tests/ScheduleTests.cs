using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Flows.Tests;

public class ScheduleTests
{
    [Theory]
    [InlineData(0.0)]
    [InlineData(0.8)]
    [InlineData(1.0)]
    [InlineData(1.5)]
    public void Integral_MatchesQuadratureOfEta(double power)
    {
        var s = new PowerLawSchedule(0.3, power, 1.0);
        foreach (double t in new[] { 1e-6, 0.5, 3.0, 250.0 })
        {
            // Composite Simpson on a log-spaced-enough uniform grid: 20000 panels.
            int n = 20000;
            double h = t / n, sum = s.Eta(0) + s.Eta(t);
            for (int i = 1; i < n; i++)
            {
                sum += (i % 2 == 1 ? 4 : 2) * s.Eta(i * h);
            }

            double simpson = sum * h / 3;
            Assert.Equal(simpson, s.Integral(t), Math.Max(1e-12, 1e-9 * simpson));
        }
    }

    [Fact]
    public void EtaAtZero_IsEta0_WithUnitOffset()
    {
        Assert.Equal(5e-3, new PowerLawSchedule(5e-3, 0.8).Eta(0), 15);
        Assert.Equal(5e-3 * Math.Pow(11, -0.8), new PowerLawSchedule(5e-3, 0.8).Eta(10), 15);
    }

    [Fact]
    public void PaperSchedule_SatisfiesEveryAssumption_ForSquaredRelu()
    {
        var s = new PowerLawSchedule(5e-3, 0.8);
        Assert.Empty(ScheduleAssumptions.Check(s, ScheduleAssumption.Adam, homogeneity: 3));
    }

    [Fact]
    public void SlowDecay_BreaksLrMsd_ButNotLrNsd()
    {
        // L = 3: LR-MSD needs a > 2/3.
        var s = new PowerLawSchedule(0.1, 0.5);
        Assert.Empty(ScheduleAssumptions.Check(s, ScheduleAssumption.Nsd, 3));
        string w = Assert.Single(ScheduleAssumptions.Check(s, ScheduleAssumption.Msd, 3));
        Assert.Contains("LR-MSD", w);
    }

    [Fact]
    public void FastDecay_BreaksLrNsd_AndGrowth_BreaksLrAdam()
    {
        Assert.Contains(ScheduleAssumptions.Check(new PowerLawSchedule(0.1, 1.2), ScheduleAssumption.Nsd, 2), w => w.Contains("LR-NSD"));
        Assert.Contains(ScheduleAssumptions.Check(new PowerLawSchedule(0.1, -0.1), ScheduleAssumption.Adam, 2), w => w.Contains("LR-Adam"));
    }
}
