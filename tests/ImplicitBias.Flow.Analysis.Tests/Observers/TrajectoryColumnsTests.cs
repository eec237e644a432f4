using ImplicitBias.Flow.Analysis.Observers;

namespace ImplicitBias.Flow.Analysis.Tests.Observers;

public sealed class TrajectoryColumnsTests
{
    [Fact]
    public void PerPartColumns_FindsThePlainAndThePerPartColumnsOfOneQuantityOnly()
    {
        string[] columns = ["t", "momentumRatio", "momentumRatio_muon", "momentumRatioX", "momentumDirectionGap_adam", "momentumRatio_adam"];
        (string Column, string? Part)[] found = TrajectoryColumns.PerPartColumns(columns, TrajectoryColumns.MomentumRatio).ToArray();
        Assert.Equal([("momentumRatio", null), ("momentumRatio_muon", "muon"), ("momentumRatio_adam", "adam")], found);
        Assert.Equal("momentumRatio_muon", TrajectoryColumns.MomentumRatio("muon"));
        Assert.Equal("secondMomentRatio", TrajectoryColumns.SecondMomentRatio(null));
        Assert.Equal("hardMargin_own", TrajectoryColumns.HardMargin(TrajectoryColumns.Own));
    }
}
