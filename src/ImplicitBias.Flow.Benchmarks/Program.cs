using BenchmarkDotNet.Running;

namespace ImplicitBias.Flow.Benchmarks;

/// <summary>
/// BenchmarkDotNet entry point: <c>dotnet run -c Release --project src/ImplicitBias.Flow.Benchmarks -- --filter '*'</c>.
/// </summary>
public static class Program
{
    /// <summary>Runs the benchmarks selected by the arguments.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
