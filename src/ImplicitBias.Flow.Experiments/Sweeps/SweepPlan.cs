using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ImplicitBias.Flow.Experiments.Configuration;

namespace ImplicitBias.Flow.Experiments.Sweeps;

/// <summary>One run of a sweep: a grid point (axis values), an optimizer entry and a seed, with its folder.</summary>
/// <param name="Index">Position in the sweep (the Slurm array index).</param>
/// <param name="Folder">Folder relative to the sweep's output folder, e.g. <c>act=relu/width=10/adam/seed1</c>.</param>
/// <param name="Coordinates">The axis values of the point (key → value as written in the sweep file).</param>
/// <param name="OptimizerIndex">Index of the optimizer entry in the sweep file's Optimizers list.</param>
/// <param name="Seed">Initialization seed.</param>
/// <param name="Settings">The run's settings: one optimizer, one seed, as <c>ibflow run</c> of its config.json reads them.</param>
public sealed record SweepPoint(int Index, string Folder, IReadOnlyDictionary<string, string> Coordinates, int OptimizerIndex, ulong Seed, ExperimentSettings Settings);

/// <summary>
/// A sweep file expanded into its runs. A sweep file is an experiment file with a <c>Sweep</c> section whose keys
/// are experiment keys (<c>"Model:Activation"</c>, <c>"Solver:Method"</c>, …) and whose values are lists; the grid
/// is their product, times every entry of <c>Optimizers</c>, times every seed of <c>Seeds</c>. An optimizer entry
/// may give <c>Eta0ByActivation</c> (activation → η0, or → an object of optimizer keys such as MuonEta0 and
/// AdamEta0) for the paper's Table 1 rates per activation.
/// </summary>
public sealed class SweepPlan
{
    /// <summary>Keys a Sweep section may not vary, with the reason.</summary>
    private static readonly Dictionary<string, string> Fixed = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Name"] = "the sweep has one name; its runs are named by their coordinates",
        ["Sweep"] = "a sweep cannot vary its own grid",
        ["Seeds"] = "list the seeds in the experiment's Seeds list; every grid point runs each of them",
        ["Optimizers"] = "list the optimizers in the experiment's Optimizers list; every grid point runs each of them",
        ["Optimizer"] = "list the optimizers in the experiment's Optimizers list; every grid point runs each of them",
    };

    private SweepPlan(string file, string name, IReadOnlyList<string> axes, IReadOnlyList<SweepPoint> points)
    {
        File = file;
        Name = name;
        Axes = axes;
        Points = points;
    }

    /// <summary>The sweep file.</summary>
    public string File { get; }

    /// <summary>The experiment's Name (or the file's name).</summary>
    public string Name { get; }

    /// <summary>The grid's axis keys, in the file's order.</summary>
    public IReadOnlyList<string> Axes { get; }

    /// <summary>Every run, in a fixed order (axes, then optimizer, then seed).</summary>
    public IReadOnlyList<SweepPoint> Points { get; }

    /// <summary>Reads, validates and expands a sweep file. Throws <see cref="ExperimentException"/> naming the key for any mistake.</summary>
    /// <param name="path">The sweep file.</param>
    /// <param name="overrides">Command-line overrides (<c>--Model:Width=10</c>), applied to the file before expansion.</param>
    public static SweepPlan Load(string path, IReadOnlyList<string>? overrides = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!System.IO.File.Exists(path))
        {
            throw new ExperimentException(path, Directory.Exists(path) ? "is a folder; give the path of a sweep .json file" : "file not found");
        }

        JsonObject root;
        try
        {
            root = JsonNode.Parse(System.IO.File.ReadAllText(path, Encoding.UTF8), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject
                ?? throw new ExperimentException(path, "is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ExperimentException(path, $"could not be read: {e.Message}");
        }

        foreach (string o in overrides ?? [])
        {
            ApplyOverride(root, o, path);
        }

        JsonObject sweep = Child(root, "Sweep") as JsonObject ?? throw new ExperimentException(path, "Sweep", Child(root, "Sweep")?.ToJsonString(), "a sweep file needs a Sweep section of lists, e.g. \"Sweep\": { \"Model:Width\": [10, 20] }");
        var axes = new List<(string Key, string Short, JsonNode?[] Values)>();
        foreach ((string key, JsonNode? value) in sweep)
        {
            string top = key.Split(':')[0];
            if (Fixed.TryGetValue(top, out string? why))
            {
                throw new ExperimentException(path, $"Sweep:{key}", value?.ToJsonString(), $"{key} cannot be a grid axis: {why}");
            }

            if (value is not JsonArray list || list.Count == 0)
            {
                throw new ExperimentException(path, $"Sweep:{key}", value?.ToJsonString(), "a grid axis is a non-empty list of values, e.g. [10, 20]");
            }

            if (list.Any(v => v is not JsonValue))
            {
                throw new ExperimentException(path, $"Sweep:{key}", value.ToJsonString(), "a grid axis lists plain values (numbers, words, true/false), not lists or sections");
            }

            if (list.Select(Text).Distinct(StringComparer.OrdinalIgnoreCase).Count() != list.Count)
            {
                throw new ExperimentException(path, $"Sweep:{key}", value.ToJsonString(), "a grid axis lists each value once");
            }

            axes.Add((key, ShortName(key), list.ToArray()));
        }

        // Two axes ending in the same word (Data:Seed, Model:Seed) are told apart by their full key in folder names.
        var shorts = axes.GroupBy(a => a.Short, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);
        axes = axes.Select(a => shorts.Contains(a.Short) ? (a.Key, a.Key.Replace(':', '-').ToLowerInvariant(), a.Values) : a).ToList();
        root.Remove(FindKey(root, "Sweep")!);

        JsonArray optimizers = Child(root, "Optimizers") as JsonArray ?? (Child(root, "Optimizer") is JsonObject single ? [single.DeepClone()] : [new JsonObject()]);
        root.Remove(FindKey(root, "Optimizer") ?? string.Empty);
        if (optimizers.Count == 0)
        {
            throw new ExperimentException(path, "Optimizers", "[]", "list at least one optimizer");
        }

        string name = Child(root, "Name") is JsonValue n ? Text(n) : Path.GetFileNameWithoutExtension(path);
        root[FindKey(root, "Name") ?? "Name"] = name;
        string[] optimizerFolders = OptimizerFolders(optimizers);

        var points = new List<SweepPoint>();
        string scratch = Path.Combine(Path.GetTempPath(), $"ibflow-sweep-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(scratch);
        try
        {
            foreach (int[] at in Product(axes.Select(a => a.Values.Length).ToArray()))
            {
                var coordinates = new Dictionary<string, string>(StringComparer.Ordinal);
                JsonObject point = (JsonObject)root.DeepClone();
                var parts = new List<string>();
                for (int a = 0; a < axes.Count; a++)
                {
                    JsonNode value = axes[a].Values[at[a]]!.DeepClone();
                    Set(point, axes[a].Key, value);
                    coordinates[axes[a].Key] = Text(value);
                    parts.Add($"{axes[a].Short}={Safe(Text(value))}");
                }

                string activation = Child(Child(point, "Model"), "Activation") is JsonValue act ? Text(act) : "relu-q";
                for (int k = 0; k < optimizers.Count; k++)
                {
                    JsonObject entry = ResolveEta0(optimizers[k] as JsonObject ?? throw new ExperimentException(path, $"Optimizers:{k}", optimizers[k]?.ToJsonString(), "an optimizer entry is a section { \"Name\": …, \"Eta0\": … }"), activation, axes.Any(a => a.Key.Equals("Model:Activation", StringComparison.OrdinalIgnoreCase)), path, k);
                    point[FindKey(point, "Optimizers") ?? "Optimizers"] = new JsonArray(entry);
                    ExperimentSettings settings = LoadPoint(point, scratch, path, k, axes.Select(a => a.Key).ToArray());
                    foreach (ulong seed in settings.Seeds)
                    {
                        string folder = string.Join('/', parts.Append(optimizerFolders[k]).Append($"seed{seed}"));
                        points.Add(new SweepPoint(points.Count, folder, coordinates, k, seed, settings with { Seeds = [seed] }));
                    }
                }
            }
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }

        return new SweepPlan(path, name, axes.Select(a => a.Key).ToArray(), points);
    }

    // The experiment file of one point is checked by the experiment loader itself (every key, every value); its
    // errors are reported against the sweep file and the sweep's own key.
    private static ExperimentSettings LoadPoint(JsonObject point, string scratch, string sweepFile, int optimizerIndex, string[] axisKeys)
    {
        string file = Path.Combine(scratch, "point.json");
        System.IO.File.WriteAllText(file, point.ToJsonString());
        try
        {
            ExperimentSettings s = ExperimentLoader.Load(file, useEnvironment: false);
            return s with { SourceFile = sweepFile, Warnings = s.Warnings.Select(w => w.Replace(file, sweepFile, StringComparison.Ordinal)).ToArray() };
        }
        catch (ExperimentException e)
        {
            if (e.Key.Length == 0)
            {
                throw new ExperimentException(sweepFile, e.Allowed.Replace(file, sweepFile, StringComparison.Ordinal));
            }

            string key = axisKeys.FirstOrDefault(a => a.Equals(e.Key, StringComparison.OrdinalIgnoreCase)) is { } axis ? $"Sweep:{axis}"
                : e.Key.StartsWith("Optimizers:0", StringComparison.OrdinalIgnoreCase) ? $"Optimizers:{optimizerIndex}{e.Key["Optimizers:0".Length..]}"
                : e.Key;
            throw new ExperimentException(sweepFile, key, e.Value, e.Allowed.Replace(file, sweepFile, StringComparison.Ordinal));
        }
    }

    // Table 1 of the paper gives η0 per activation; an entry's Eta0ByActivation picks it. When the sweep varies the
    // activation, an entry must say its η0 for each (the loader's defaults are the squared-ReLU column only).
    private static JsonObject ResolveEta0(JsonObject entry, string activation, bool activationVaries, string file, int k)
    {
        JsonObject resolved = (JsonObject)entry.DeepClone();
        string? byKey = FindKey(resolved, "Eta0ByActivation");
        bool hasRate = FindKey(resolved, "Eta0") is not null || FindKey(resolved, "MuonEta0") is not null || FindKey(resolved, "AdamEta0") is not null;
        if (byKey is null)
        {
            if (activationVaries && !hasRate)
            {
                throw new ExperimentException(file, $"Optimizers:{k}:Eta0ByActivation", null, $"the sweep varies Model:Activation, so give this optimizer its η0 for each activation (e.g. \"Eta0ByActivation\": {{ \"{activation}\": 0.1 }}) or one Eta0 for all");
            }

            return resolved;
        }

        if (resolved[byKey] is not JsonObject table)
        {
            throw new ExperimentException(file, $"Optimizers:{k}:{byKey}", resolved[byKey]?.ToJsonString(), "a section activation → η0, e.g. { \"relu\": 0.1, \"relu-q\": 0.05 }");
        }

        resolved.Remove(byKey);
        JsonNode? rate = Child(table, activation);
        switch (rate)
        {
            case JsonValue v when v.TryGetValue(out double eta0) || double.TryParse(Text(v), NumberStyles.Float, CultureInfo.InvariantCulture, out eta0):
                resolved[FindKey(resolved, "Eta0") ?? "Eta0"] = eta0;
                break;
            case JsonObject keys:
                foreach ((string key, JsonNode? value) in keys)
                {
                    resolved[FindKey(resolved, key) ?? key] = value?.DeepClone();
                }

                break;
            default:
                throw new ExperimentException(file, $"Optimizers:{k}:{byKey}:{activation}", rate?.ToJsonString(), $"this optimizer has no η0 for activation '{activation}'; give a number or a section such as {{ \"MuonEta0\": 0.05, \"AdamEta0\": 0.05 }} (listed: {string.Join(", ", table.Select(p => p.Key))})");
        }

        return resolved;
    }

    private static string[] OptimizerFolders(JsonArray optimizers)
    {
        var names = new List<string>();
        for (int k = 0; k < optimizers.Count; k++)
        {
            JsonNode? name = Child(optimizers[k], "Name");
            names.Add(Safe(name is JsonValue v ? Text(v).ToLowerInvariant() : "ngd"));
        }

        // The same optimizer twice (two η0, say) gets its entry index in the folder name.
        return names.Select((n, k) => names.Count(m => m == n) > 1 ? $"{n}-{k}" : n).ToArray();
    }

    private static string ShortName(string key)
    {
        string last = key.Split(':')[^1];
        return last.Equals("Activation", StringComparison.OrdinalIgnoreCase) ? "act" : last.ToLowerInvariant();
    }

    /// <summary>A value as a folder-name word: letters, digits, '.', '-', '_' kept, anything else '_'.</summary>
    private static string Safe(string value)
    {
        var s = new StringBuilder(value.Length);
        foreach (char c in value)
        {
            s.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or '+' ? c : '_');
        }

        return s.Length == 0 ? "_" : s.ToString();
    }

    private static string Text(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue(out string? s) => s,
        JsonValue v when v.TryGetValue(out double d) => d.ToString("R", CultureInfo.InvariantCulture),
        null => "null",
        _ => node.ToJsonString(),
    };

    private static IEnumerable<int[]> Product(int[] sizes)
    {
        var at = new int[sizes.Length];
        while (true)
        {
            yield return (int[])at.Clone();
            int i = sizes.Length - 1;
            while (i >= 0 && ++at[i] == sizes[i])
            {
                at[i--] = 0;
            }

            if (i < 0)
            {
                yield break;
            }
        }
    }

    // Keys are case-insensitive, as in the configuration library the loader uses.
    private static string? FindKey(JsonObject o, string key) => o.Select(p => p.Key).FirstOrDefault(k => k.Equals(key, StringComparison.OrdinalIgnoreCase));

    private static JsonNode? Child(JsonNode? node, string key) => node is JsonObject o && FindKey(o, key) is { } k ? o[k] : null;

    private static void Set(JsonObject root, string path, JsonNode value)
    {
        string[] keys = path.Split(':');
        JsonNode node = root;
        for (int i = 0; i < keys.Length - 1; i++)
        {
            node = node switch
            {
                JsonObject o => FindKey(o, keys[i]) is { } k && o[k] is JsonNode child ? child : o[keys[i]] = new JsonObject(),
                JsonArray a when int.TryParse(keys[i], NumberStyles.None, CultureInfo.InvariantCulture, out int j) && j < a.Count && a[j] is JsonNode item => item,
                _ => throw new InvalidOperationException(),
            };
        }

        switch (node)
        {
            case JsonObject o:
                o[FindKey(o, keys[^1]) ?? keys[^1]] = value;
                break;
            case JsonArray a when int.TryParse(keys[^1], NumberStyles.None, CultureInfo.InvariantCulture, out int j) && j < a.Count:
                a[j] = value;
                break;
            default:
                throw new InvalidOperationException();
        }
    }

    // --Model:Width=10 sets Model:Width in the sweep file; --Seeds=1,2 replaces the seed list; --Sweep:Model:Width=10,20 an axis.
    private static void ApplyOverride(JsonObject root, string text, string file)
    {
        string body = text.TrimStart('-');
        int eq = body.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            throw new ExperimentException("command line", body, null, "give overrides as --Section:Key=value");
        }

        string key = body[..eq], value = body[(eq + 1)..];
        bool list = key.Equals("Seeds", StringComparison.OrdinalIgnoreCase) || key.StartsWith("Sweep:", StringComparison.OrdinalIgnoreCase);
        JsonNode node = list ? new JsonArray(value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(v => (JsonNode?)Scalar(v)).ToArray()) : Scalar(value);
        try
        {
            if (key.StartsWith("Sweep:", StringComparison.OrdinalIgnoreCase))
            {
                if (Child(root, "Sweep") is not JsonObject sweep)
                {
                    root["Sweep"] = sweep = [];
                }

                sweep[FindKey(sweep, key[6..]) ?? key[6..]] = node;
            }
            else
            {
                Set(root, key, node);
            }
        }
        catch (InvalidOperationException)
        {
            throw new ExperimentException("command line", key, value, $"{file} has no such place for a value (a list index out of range, or a value where a section is)");
        }
    }

    private static JsonValue Scalar(string v) =>
        double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? JsonValue.Create(d) : JsonValue.Create(v);
}
