using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Solvers.Methods;

namespace ImplicitBias.Flow.Experiments.Tests;

/// <summary>Solver:Method is the method catalogue's vocabulary, not a list of its own.</summary>
public sealed class MethodVocabularyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ibflow-methods-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Methods_AreAutoTheCatalogueItsPairsAndDiscrete()
    {
        Assert.Equal(["auto", .. MethodCatalog.All.Select(m => m.Name), .. MethodCatalog.Pairs.Select(m => m.Name), "discrete"], Vocabulary.Methods);
        Assert.Contains("tsit5+etdrk4", Vocabulary.Methods);
    }

    [Fact]
    public void Loader_AcceptsEveryCatalogueMethodAndNamesThemWhenRefusing()
    {
        string path = Path.Combine(_dir, "e.json");
        File.WriteAllText(path, "{}");
        foreach (OdeMethod method in MethodCatalog.All.Concat(MethodCatalog.Pairs))
        {
            Assert.Equal(method.Name, ExperimentLoader.Load(path, [$"--Solver:Method={method.Name}"], useEnvironment: false).Solver.Method);
        }

        Exception e = Assert.ThrowsAny<Exception>(() => ExperimentLoader.Load(path, ["--Solver:Method=rk45"], useEnvironment: false));
        Assert.Contains("Solver:Method", e.Message, StringComparison.Ordinal);
        Assert.All(MethodCatalog.All, m => Assert.Contains(m.Name, e.Message, StringComparison.Ordinal));
    }
}
