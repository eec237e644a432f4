using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Core.Tests;

public class StateLayoutTests
{
    [Fact]
    public void Offsets_AreCumulativeBlockLengths()
    {
        var layout = new StateLayout([new StateBlock("theta", 3), new StateBlock("m", 2, DecayRate: 0.1), new StateBlock("v", 4)]);
        Assert.Equal(9, layout.Length);
        Assert.Equal(3, layout.Offset(1));
        Assert.Equal(5, layout.Offset(2));
        Assert.True(layout.IsSemilinear);
        Assert.Equal(2, layout.IndexOf("v"));
    }

    [Fact]
    public void NegativeDecayRate_IsRejectedWithBlockName()
    {
        var e = Assert.Throws<ArgumentException>(() => new StateLayout([new StateBlock("m", 2, DecayRate: -1)]));
        Assert.Contains("'m'", e.Message);
    }
}
