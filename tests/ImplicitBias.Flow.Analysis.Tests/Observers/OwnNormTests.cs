using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Core.Geometry;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Analysis.Tests.Observers;

/// <summary>The own norm of single and composite flows, against values computed by hand.</summary>
public class OwnNormTests
{
    private sealed class NoOracle(ParameterLayout layout) : IGradientOracle
    {
        public ParameterLayout Layout { get; } = layout;

        public double Evaluate(ReadOnlySpan<double> theta, Span<double> relativeGradient) => throw new NotSupportedException();
    }

    private static OptimizerFlow Flow(ParameterLayout layout, IReadOnlyList<OptimizerPart> parts) => new(new NoOracle(layout), parts, power: 0.8);

    private static double[] Theta(ParameterLayout layout, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, layout.Length).Select(_ => (rng.NextDouble() * 2) - 1).ToArray();
    }

    [Fact]
    public void NgdOnMatricesWithSignOnOutput_IsTheWeightedMaxOfL2AndLInf()
    {
        // Depth 3: two matrices under NGD (jointly normalized in ℓ2), the output row under SignGD.
        ParameterLayout layout = ParameterLayout.FullyConnected(4, [5, 3]);
        IReadOnlyList<OptimizerPart> parts = OptimizerCatalog.Composite(new OptimizerSpec("ngd", 0.5), new OptimizerSpec("signgd", 0.2), new OptimizerSpec("ngd", 0.5), layout);
        Norm own = ObservedFlow.OwnNorm(Flow(layout, parts));
        int matrices = layout.Offset(layout.Blocks.Count - 1);
        for (int seed = 0; seed < 20; seed++)
        {
            double[] theta = Theta(layout, seed);
            double l2 = Math.Sqrt(theta[..matrices].Sum(x => x * x));
            double linf = theta[matrices..].Max(Math.Abs);
            Assert.Equal(Math.Max(0.2 / 0.5 * l2, linf), own.Value(theta), 12);
        }

        // Not the spectral-norm composite of Muon-Adam (what every two-part flow used to get).
        double[] probe = Theta(layout, 99);
        Assert.NotEqual(Norms.MuonAdam(layout, 0.2 / 0.5).Value(probe), own.Value(probe), 6);
    }

    [Fact]
    public void MuonAdam_IsTheoremThreePointSevensNorm()
    {
        ParameterLayout layout = ParameterLayout.FullyConnected(4, [5, 3]);
        IReadOnlyList<OptimizerPart> parts = OptimizerCatalog.Parts(new OptimizerSpec("muon-adam", 0.1, MuonEta0: 0.4, AdamEta0: 0.1), layout);
        Norm own = ObservedFlow.OwnNorm(Flow(layout, parts));
        BlockMaxNorm expected = Norms.MuonAdam(layout, 0.1 / 0.4);
        for (int seed = 0; seed < 10; seed++)
        {
            double[] theta = Theta(layout, seed);
            Assert.Equal(expected.Value(theta), own.Value(theta), 12);
            Assert.Equal(expected.Dual.Value(theta), own.Dual.Value(theta), 12);
        }
    }

    [Theory]
    [InlineData("ngd", "l2")]
    [InlineData("signum", "linf")]
    [InlineData("adam", "linf")]
    [InlineData("muon", "msp")]
    public void SingleOptimizers_KeepTheirNorm(string name, string norm)
    {
        ParameterLayout layout = ParameterLayout.FullyConnected(4, [5]);
        Norm own = ObservedFlow.OwnNorm(Flow(layout, OptimizerCatalog.Parts(new OptimizerSpec(name, 0.1), layout)));
        Assert.Equal(norm, own.Name);
    }
}
