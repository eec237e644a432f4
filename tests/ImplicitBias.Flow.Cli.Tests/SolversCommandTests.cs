using System.Text.Json;
using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Cli.Tests;

public class SolversCommandTests
{
    [Fact]
    public void Json_OneProblemMethodTolerance_HasAllKeys()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(["solvers", "--problem", "detest-a1", "--method", "dopri5", "--rtol", "1e-8", "--json"], output, error);
        Assert.Equal(0, code);
        using JsonDocument doc = JsonDocument.Parse(output.ToString());
        JsonElement row = Assert.Single(doc.RootElement.EnumerateArray());
        Assert.Equal("detest-a1", row.GetProperty("problem").GetString());
        Assert.Equal("dopri5", row.GetProperty("method").GetString());
        Assert.Equal(1e-8, row.GetProperty("rtol").GetDouble());
        Assert.Equal(1e-8, row.GetProperty("atol").GetDouble());
        // The same problem (DETEST A1: y' = −y on [0, 20], y(0) = 1) solved here directly: the command must report
        // exactly its counts, and its error against the closed form e^{−20}.
        OdeResult direct = OdeSolver.Solve(new HostOdeTerm((t, y, f) => f[0] = -y[0]), new HostStateAlgebra(StateLayout.Single(1, 1e-8, 1e-8)), MethodCatalog.Find("dopri5")!, 0, 20, new HostState([1.0]));
        Assert.Equal(OdeStatus.Success, direct.Status);
        Assert.Equal(Math.Abs(direct.FinalState[0] - Math.Exp(-20)), row.GetProperty("error").GetDouble(), 1e-15);
        Assert.True(row.GetProperty("error").GetDouble() < 1e-8);
        Assert.Equal(direct.RhsEvaluations, row.GetProperty("rhsEvaluations").GetInt64());
        Assert.Equal(direct.AcceptedSteps, row.GetProperty("acceptedSteps").GetInt64());
        Assert.Equal(direct.RejectedSteps, row.GetProperty("rejectedSteps").GetInt64());
        Assert.True(direct.AcceptedSteps > 5);
        Assert.True(row.GetProperty("wallSeconds").GetDouble() >= 0);
    }

    [Fact]
    public void Table_DefaultSweep_PrintsOneRowPerTolerance()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, Program.Run(["solvers", "--problem", "arenstorf", "--method", "dop853"], output, error));
        string[] lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(8, lines.Length);
        Assert.StartsWith("problem", lines[0]);
        Assert.All(lines.Skip(1), l => Assert.Contains("Success", l));
    }

    [Fact]
    public void UnknownMethod_IsUserErrorListingAllowedNames()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(2, Program.Run(["solvers", "--method", "rk45"], output, error));
        Assert.Contains("--method 'rk45'", error.ToString());
        Assert.Contains("etdrk4", error.ToString());
    }

    [Fact]
    public void Help_ListsExponentialMethods()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, Program.Run(["solvers", "--help"], output, error));
        Assert.Contains("etd2", output.ToString());
        Assert.Contains("stiff-decay", output.ToString());
    }
}
