using System.Numerics;
using System.Text.Json.Nodes;
using ImplicitBias.Flow.Analysis.Diagnostics;
using ImplicitBias.Flow.Experiments.Diagnostics;

namespace ImplicitBias.Flow.Experiments.Tests;

/// <summary>
/// `ibflow diagnose` marks eigenvalues that cannot belong to the flow along its solution (h|λ| far past every stepper's
/// stability bound at an accepted step, and no decay), instead of reporting them as converged fast modes.
/// </summary>
public class DiagnosisCredibilityTests
{
    private static FlowMode Mode(Complex eigenvalue) => new(eigenvalue, 0.0, [("theta", 1.0)], []);

    private static DiagnosisPoint Point(double h, params FlowMode[] modes) =>
        new(1e5, -2.5, h, 1000, modes, modes, null, []) { DecayRates = [0.105, 0.001] };

    [Fact]
    public void EigenvalueFarPastEveryStabilityBound_IsNotCredible_UnlessItIsADecay()
    {
        // Measured on the paper's Adam setting at t = 1e5: h = 3.7 and λ = ±4.4e6 in θ, with Arnoldi residual 0.
        DiagnosisPoint p = Point(3.7, Mode(new Complex(-4.449e6, 0)), Mode(new Complex(-0.052, 0.61)), Mode(new Complex(-0.105, 0)));
        Assert.False(p.IsCredible(p.Modes[0]));
        Assert.True(p.IsCredible(p.Modes[1]));
        Assert.True(p.IsCredible(p.Modes[2]));

        // A decay −c1 far past the explicit bound is what an exponential stepper integrates exactly: credible.
        DiagnosisPoint late = Point(24_000, Mode(new Complex(-0.105, 0)), Mode(new Complex(-0.2, 0)));
        Assert.True(late.IsCredible(late.Modes[0]));
        Assert.False(late.IsCredible(late.Modes[1]));
    }

    [Fact]
    public void TableAndJson_MarkTheArtefact()
    {
        DiagnosisPoint p = Point(3.7, Mode(new Complex(-4.449e6, 0)), Mode(new Complex(-0.052, 0.61)));
        var result = new DiagnosisResult("paper", "adam", "etdrk4", 1e-6, [p], "Success", 1e5);
        string table = DiagnosisOutputs.FormatTable(result);
        Assert.Contains("1.65E+07*", table, StringComparison.Ordinal);
        Assert.Contains("* not an eigenvalue of the flow along its solution", table, StringComparison.Ordinal);

        JsonNode json = JsonNode.Parse(DiagnosisOutputs.ToJson(result))!;
        JsonArray modes = json["points"]![0]!["modes"]!.AsArray();
        Assert.False(modes[0]!["credible"]!.GetValue<bool>());
        Assert.True(modes[1]!["credible"]!.GetValue<bool>());
    }
}
