using System.Collections.Concurrent;
using ImplicitBias.Flow.Flows.Optimizers.Definitions;

namespace ImplicitBias.Flow.Flows.Optimizers;

/// <summary>
/// Every optimizer the program knows, one <see cref="OptimizerDefinition"/> each (the built-in ones in
/// Optimizers/Definitions, one file per optimizer). More may be registered at start-up (a plug-in, a test fixture);
/// the experiment vocabulary, the loader, the CLI help, the observers and verify see them at once.
/// </summary>
public static class OptimizerRegistry
{
    private static readonly object Gate = new();
    private static readonly ConcurrentDictionary<string, OptimizerDefinition> ByName = new(StringComparer.OrdinalIgnoreCase);
    private static volatile OptimizerDefinition[] _all = [];

    static OptimizerRegistry()
    {
        // The order is the docs' (docs/mathematics.md §2 table): it is the order of the help and of error messages.
        foreach (OptimizerDefinition d in new[]
                 {
                     Gd.Definition, Ngd.Definition, SignGd.Definition, Momentum.Definition, NMomentum.Definition,
                     Signum.Definition, Spectral.Definition, Muon.Definition, MuonSignum.Definition, Adam.Definition,
                     MuonAdam.Definition,
                 })
        {
            Register(d);
        }
    }

    /// <summary>Every definition, built-in ones first, then in the order registered.</summary>
    public static IReadOnlyList<OptimizerDefinition> All => _all;

    /// <summary>Every optimizer name (aliases not included), in <see cref="All"/>'s order.</summary>
    public static IReadOnlyList<string> Names => _all.Select(d => d.Name).ToArray();

    /// <summary>Every accepted spelling: names, then aliases.</summary>
    public static IReadOnlyList<string> NamesAndAliases => [.. Names, .. _all.SelectMany(d => d.Aliases)];

    /// <summary>
    /// Adds <paramref name="definition"/>. Registering the same definition again is a no-op; a different one under a
    /// taken name or alias is an error.
    /// </summary>
    public static void Register(OptimizerDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        definition.Validate();
        lock (Gate)
        {
            if (ByName.TryGetValue(definition.Name, out OptimizerDefinition? existing) && ReferenceEquals(existing, definition))
            {
                return;
            }

            foreach (string key in definition.Aliases.Prepend(definition.Name))
            {
                if (ByName.ContainsKey(key))
                {
                    throw new ArgumentException($"The optimizer name '{key}' is taken.", nameof(definition));
                }
            }

            foreach (string key in definition.Aliases.Prepend(definition.Name))
            {
                ByName[key] = definition;
            }

            _all = [.. _all, definition];
        }
    }

    /// <summary>The definition named <paramref name="name"/> (or one of its aliases, any case), or null.</summary>
    public static OptimizerDefinition? Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return ByName.TryGetValue(name.Trim(), out OptimizerDefinition? d) ? d : null;
    }

    /// <summary>The definition named <paramref name="name"/>; an <see cref="ArgumentException"/> listing the names when unknown.</summary>
    public static OptimizerDefinition Get(string name) =>
        Find(name) ?? throw new ArgumentException($"Unknown optimizer '{name}'; known: {string.Join(", ", Names)}.");
}
