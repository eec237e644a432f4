using ImplicitBias.Flow.Experiments.Comparison;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Plotting;

namespace ImplicitBias.Flow.Experiments.Tests;

public sealed class ComparisonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-comparison-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ExperimentSettings Load(string stop, params string[] overrides)
    {
        string path = Path.Combine(_dir, "exp.json");
        File.WriteAllText(path, $$"""
        {
          "Name": "tiny",
          "Data": { "Kind": "gaussian", "Samples": 16, "Dimension": 4, "Seed": 3 },
          "Model": { "Depth": 2, "Width": 6, "Activation": "relu-q", "Q": 2, "InitScale": 0.5, "Seed": 5 },
          "Optimizer": { "Name": "ngd", "Eta0": 0.3, "Power": 0.8 },
          "Solver": { "Backend": "cpu" },
          "Stop": { {{stop}} }
        }
        """);
        return ExperimentLoader.Load(path, overrides, useEnvironment: false);
    }

    [Fact]
    public void CheckSteps_AcceptsDivisorsOfT_AndExplainsTheRest()
    {
        Assert.Null(ComparisonOptions.CheckSteps([1, 0.5, 0.25, 0.125], 100));

        // 0.3/0.1 is 2.9999999999999996 in floating point: still three steps.
        Assert.Null(ComparisonOptions.CheckSteps([0.1, 0.05], 0.3));
        Assert.Equal(3, ComparisonOptions.StepCount(0.1, 0.3));
        Assert.Contains("does not divide", ComparisonOptions.CheckSteps([0.4, 0.35], 4.8));
        Assert.Null(ComparisonOptions.StepCount(0.35, 4.8));
        Assert.Contains("not a positive step size", ComparisonOptions.CheckSteps([0.5, double.NaN], 1));
        Assert.Contains("larger than", ComparisonOptions.CheckSteps([2], 1));
        Assert.Contains("once", ComparisonOptions.CheckSteps([0.5, 0.5], 1));
        Assert.Contains("at least one", ComparisonOptions.CheckSteps([], 1));
    }

    [Fact]
    public void ResolveTime_IsGivenTime_ElseSmallMaxTime_ElseTheDefault()
    {
        ExperimentSettings small = Load("\"MaxTime\": 4");
        ExperimentSettings large = Load("\"MaxTime\": 1e6");
        Assert.Equal(4, new ComparisonOptions().ResolveTime(small));
        Assert.Equal(ComparisonOptions.DefaultTime, new ComparisonOptions().ResolveTime(large));
        Assert.Equal(2.5, new ComparisonOptions { Time = 2.5 }.ResolveTime(large));
    }

    [Fact]
    public void FitOrder_IsTheLogLogSlope_OverUsableRows()
    {
        double[] hs = [0.4, 0.2, 0.1, 0.05];
        Assert.Equal(1.5, DiscretizationComparison.FitOrder(hs.Select(h => Row(h, 0.3 * Math.Pow(h, 1.5))).ToArray()), 12);

        // Rows with a zero or non-finite error (a diverged coarse run) are left out of the fit.
        ComparisonRow[] mixed = [Row(0.8, double.NaN), Row(0.6, 0), .. hs.Select(h => Row(h, 2 * h))];
        Assert.Equal(1.0, DiscretizationComparison.FitOrder(mixed), 12);
        Assert.True(double.IsNaN(DiscretizationComparison.FitOrder([Row(0.1, 0.01)])));
    }

    [Fact]
    public void AsymptoticRange_StartsWhereTheFinestOrdersAgree()
    {
        // The errors at T of the adam run (h = 1 … 1/64): order 0.8, 0.6, 0.07, 4.0, then 1.17 and 1.05.
        double[] hs = [1, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625];
        ComparisonRow[] rows = hs.Zip([3.262e-1, 1.889e-1, 1.244e-1, 1.188e-1, 7.395e-3, 3.295e-3, 1.597e-3], Row).ToArray();
        double[] orders = DiscretizationComparison.ObservedOrders(rows);
        Assert.True(double.IsNaN(orders[0]));
        Assert.Equal(Math.Log(3.295e-3 / 1.597e-3) / Math.Log(2), orders[6], 12);
        Assert.Equal(4, DiscretizationComparison.AsymptoticStart(rows));

        // The default four h alone: the finest two orders (0.60, 0.07) disagree, so there is no range and no order.
        Assert.Null(DiscretizationComparison.AsymptoticStart(rows[..4]));

        // Two h give one order only; a clean h^1 series is asymptotic throughout; a NaN error ends the range.
        Assert.Null(DiscretizationComparison.AsymptoticStart(rows[5..]));
        Assert.Equal(0, DiscretizationComparison.AsymptoticStart(hs.Select(h => Row(h, 0.2 * h)).ToArray()));
        Assert.Equal(2, DiscretizationComparison.AsymptoticStart(hs.Select((h, i) => Row(h, i == 1 ? double.NaN : 0.2 * h)).ToArray()));

        // ±0.25 around the midpoint: orders 0.85 and 1.3 agree, 0.7 and 1.3 do not.
        Assert.Equal(0, DiscretizationComparison.AsymptoticStart([Row(1, 1), Row(0.5, Math.Pow(2, -0.85)), Row(0.25, Math.Pow(2, -2.15))]));
        Assert.Null(DiscretizationComparison.AsymptoticStart([Row(1, 1), Row(0.5, Math.Pow(2, -0.7)), Row(0.25, Math.Pow(2, -2.0))]));
    }

    [Fact]
    public void Run_IgnoresTheLossTarget_AndComparesAtEveryTn()
    {
        // log L(θ_0) ≈ 2.8 here: a target of 2.7 would end an ordinary run after a fraction of T.
        ExperimentSettings settings = Load("\"TargetLogLoss\": 2.7");
        ComparisonResult result = DiscretizationComparison.Run(settings, new ComparisonOptions { Steps = [0.1, 0.4, 0.2], Time = 2.4 });

        Assert.Equal([0.4, 0.2, 0.1], result.Rows.Select(r => r.H));
        Assert.Equal([6L, 12L, 24L], result.Rows.Select(r => r.Steps));
        Assert.True(result.Rows[0].LogLossFlow < 2.7);
        foreach (ComparisonTrace tr in result.Traces)
        {
            Assert.Equal(tr.Steps + 1, tr.Time.Length);
            Assert.Equal(0, tr.Time[0]);
            Assert.Equal(0, tr.RelativeDistance[0]);
            Assert.Equal(1, tr.Cosine[0], 14);
            Assert.Equal(2.4, tr.Time[^1], 12);
            Assert.Equal(result.Traces[0].LogLossFlow[^1], tr.LogLossFlow[^1], 14);
        }

        // The flow is saved once per distinct time of the union of the grids (the h = 0.1 grid contains the others).
        Assert.Equal(25, result.Flow.Time.Length);
        Assert.InRange(result.Order, 0.8, 1.2);
        Assert.Null(result.NewtonSchulz);

        IReadOnlyList<FigureSpec> figures = ComparisonOutputs.Figures(result);
        Assert.Equal(ComparisonOutputs.PlotFiles.Count, figures.Count);
        Assert.All(figures, f => f.Validate());
        Assert.Equal(3, figures[0].Series.Count);
        Assert.All(figures[0].Series, s => Assert.DoesNotContain(0.0, s.X));
        Assert.Equal(4, figures[2].Series.Count);
        Assert.Contains(figures[3].Series, s => s.Name.StartsWith("fit C·h^p", StringComparison.Ordinal));
    }

    [Fact]
    public void Run_FlowThatCannotReachT_IsAnExperimentError()
    {
        ExperimentSettings settings = Load("\"MaxSteps\": 3");
        ExperimentException e = Assert.Throws<ExperimentException>(() => DiscretizationComparison.Run(settings, new ComparisonOptions { Steps = [0.5], Time = 4 }));
        Assert.Equal("Stop:MaxTime", e.Key);
        Assert.Contains("Stop:MaxSteps", e.Message);
    }

    private static ComparisonRow Row(double h, double error) => new(h, 1, error, 1, 0, 0);
}
