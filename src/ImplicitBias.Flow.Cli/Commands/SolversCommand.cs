using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ImplicitBias.Flow.Solvers;
using ImplicitBias.Flow.Solvers.Methods;
using ImplicitBias.Flow.Solvers.ReferenceProblems;

namespace ImplicitBias.Flow.Cli.Commands;

/// <summary>
/// <c>ibflow solvers</c>: the work–precision benchmark of the ODE engine on the reference problems. Fixed-step
/// methods (euler, rk4) take ⌈(t1 − t0) · tol^(−1/p)⌉ steps (p the order; at most 200,000), the count at which a
/// method of order p with unit error constant would meet the tolerance.
/// </summary>
internal sealed class SolversCommand : ICommand
{
    private const int MaxFixedSteps = 200_000;
    private static readonly double[] DefaultTolerances = [1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10];

    /// <inheritdoc />
    public string Name => "solvers";

    /// <inheritdoc />
    public string Summary => "Benchmark the ODE methods on reference problems (error, work, time).";

    /// <inheritdoc />
    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        string? problemName = null;
        string? methodName = null;
        double? rtol = null;
        double? atol = null;
        bool json = false;
        for (int i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--help" or "-h":
                    PrintHelp(output);
                    return 0;
                case "--json":
                    json = true;
                    break;
                case "--problem":
                    problemName = Value(args, ref i);
                    if (!ReferenceProblemSet.Names.Contains(problemName))
                    {
                        throw new UserError($"--problem '{problemName}' is unknown; allowed: {string.Join(", ", ReferenceProblemSet.Names)}.");
                    }

                    break;
                case "--method":
                    methodName = Value(args, ref i);
                    if (MethodCatalog.Find(methodName) is null)
                    {
                        throw new UserError($"--method '{methodName}' is unknown; allowed: {string.Join(", ", MethodCatalog.All.Concat(MethodCatalog.Pairs).Select(m => m.Name))}.");
                    }

                    break;
                case "--rtol":
                    rtol = Tolerance(args, ref i, "--rtol");
                    break;
                case "--atol":
                    atol = Tolerance(args, ref i, "--atol");
                    break;
                default:
                    throw new UserError($"unknown option '{args[i]}' (see ibflow solvers --help).");
            }
        }

        IEnumerable<string> problems = problemName is null ? ReferenceProblemSet.Names : [problemName];
        IEnumerable<OdeMethod> methods = methodName is null ? MethodCatalog.All : [MethodCatalog.Find(methodName)!];
        double[] tolerances = rtol is double r ? [r] : atol is double a ? [a] : DefaultTolerances;
        var rows = new List<BenchmarkRow>();
        foreach (string name in problems)
        {
            ReferenceProblem problem = ReferenceProblemSet.Get(name);
            foreach (OdeMethod method in methods)
            {
                foreach (double tol in tolerances)
                {
                    double relTol = rtol ?? tol;
                    double absTol = atol ?? tol;
                    int? steps = method.IsAdaptive ? null : FixedSteps(problem, method, relTol);
                    var clock = Stopwatch.StartNew();
                    OdeResult result = problem.Solve(method, relTol, absTol, steps);
                    double seconds = clock.Elapsed.TotalSeconds;
                    double err = result.Succeeded ? problem.Error(result.FinalState) : double.NaN;
                    rows.Add(new BenchmarkRow(name, method.Name, relTol, absTol, err, result.RhsEvaluations, result.AcceptedSteps, result.RejectedSteps, seconds, result.Status.ToString()));
                }
            }
        }

        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(rows.Select(row => new
            {
                problem = row.Problem,
                method = row.Method,
                rtol = row.RelTol,
                atol = row.AbsTol,
                error = double.IsFinite(row.Error) ? row.Error : (double?)null,
                rhsEvaluations = row.RhsEvaluations,
                acceptedSteps = row.Accepted,
                rejectedSteps = row.Rejected,
                wallSeconds = row.Seconds,
            })));
            return 0;
        }

        // The method column is as wide as its longest name (a pair such as dopri5+ros34pw2), at least 10.
        int width = rows.Select(r => r.Method.Length).Append(10).Max();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"problem",-12} {"method".PadRight(width)} {"rtol",8} {"atol",8} {"error",10} {"rhs evals",10} {"accepted",9} {"rejected",9} {"wall s",9}  status"));
        foreach (BenchmarkRow row in rows)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{row.Problem,-12} {row.Method.PadRight(width)} {row.RelTol,8:0.0e+0} {row.AbsTol,8:0.0e+0} {row.Error,10:0.00e+00} {row.RhsEvaluations,10} {row.Accepted,9} {row.Rejected,9} {row.Seconds,9:0.0000}  {row.Status}"));
        }

        return 0;
    }

    private static int FixedSteps(ReferenceProblem problem, OdeMethod method, double tol)
    {
        double steps = Math.Ceiling((problem.T1 - problem.T0) * Math.Pow(tol, -1.0 / method.Order));
        return (int)Math.Min(MaxFixedSteps, Math.Max(1, steps));
    }

    private static string Value(IReadOnlyList<string> args, ref int i)
    {
        if (i + 1 >= args.Count)
        {
            throw new UserError($"{args[i]} needs a value.");
        }

        return args[++i];
    }

    private static double Tolerance(IReadOnlyList<string> args, ref int i, string option)
    {
        string text = Value(args, ref i);
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value > 0) || !double.IsFinite(value))
        {
            throw new UserError($"{option} '{text}' must be a positive number.");
        }

        return value;
    }

    private static void PrintHelp(TextWriter output)
    {
        output.WriteLine("Usage: ibflow solvers [--problem NAME] [--method NAME] [--rtol X] [--atol X] [--json]");
        output.WriteLine();
        output.WriteLine("Runs each method on each reference problem at rtol = atol = 1e-4 … 1e-10 (or the given tolerances) and");
        output.WriteLine("prints the final error against the known answer, RHS evaluations, accepted/rejected steps and wall time.");
        output.WriteLine();
        output.WriteLine($"Problems: {string.Join(", ", ReferenceProblemSet.Names)}");
        output.WriteLine($"Methods:  {string.Join(", ", MethodCatalog.All.Select(m => m.Name))}, and pairs explicit+exponential (e.g. tsit5+etdrk4)");
        output.WriteLine("          and explicit+ros34pw2 (dopri5+ros34pw2: DOPRI5 until its stiffness estimate says it is held)");
        output.WriteLine("  etd2    exponential ETD2RK (Cox–Matthews) with exponential-Euler error estimate, for y' = −c y + N");
        output.WriteLine("  etdrk4  exponential ETDRK4 (Cox–Matthews) with an embedded second-order estimate");
        output.WriteLine("  etdrk4h ETDRK4 with a third-order estimate that borrows N at the previous step's start");
        output.WriteLine("  etdrk4k ETDRK4 whose linear part adds the Galerkin projection of dN/dy on a few Ritz vectors");
        output.WriteLine("  ros34pw2  Rosenbrock–Krylov W-method of order 3 (Rang–Angermann), L-stable, W from Arnoldi on N");
        output.WriteLine($"Fixed-step methods (euler, rk4) take ceil((t1 − t0) · tol^(−1/order)) steps, at most {MaxFixedSteps}.");
    }

    private sealed record BenchmarkRow(string Problem, string Method, double RelTol, double AbsTol, double Error, long RhsEvaluations, long Accepted, long Rejected, double Seconds, string Status);
}
