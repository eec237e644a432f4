using BenchmarkDotNet.Running;

namespace ImplicitBias.Flow.Benchmarks;

/// <summary>
/// BenchmarkDotNet entry point: <c>dotnet run -c Release --project src/ImplicitBias.Flow.Benchmarks -- --filter '*'</c>;
/// <c>-- percore [ROUNDS]</c> prints the README's per-core gradient table instead (<see cref="PerCoreGradient"/>).
/// </summary>
public static class Program
{
    /// <summary>Runs the benchmarks selected by the arguments.</summary>
    public static void Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "percore")
        {
            PerCoreGradient.Run(args.Length > 1 && int.TryParse(args[1], out int rounds) && rounds > 0 ? rounds : 40);
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
