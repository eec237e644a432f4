using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace ImplicitBias.Flow.Experiments.Configuration;

/// <summary>
/// Reads typed values from a configuration and turns every bad value into an <see cref="ExperimentException"/>
/// that names the file, the key and the allowed values. It records every key it is asked for, so that
/// keys nobody asked for can be reported as unknown.
/// </summary>
public sealed class SettingsReader
{
    private readonly IConfiguration _configuration;
    private readonly HashSet<string> _known = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _lists = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Creates a reader over <paramref name="configuration"/>; <paramref name="file"/> names the source in messages.</summary>
    public SettingsReader(IConfiguration configuration, string file)
    {
        _configuration = configuration;
        File = file;
    }

    /// <summary>The file named in messages.</summary>
    public string File { get; }

    /// <summary>Every key asked for so far (for the unknown-key check).</summary>
    public IReadOnlySet<string> KnownKeys => _known;

    /// <summary>Keys read as lists of values (their items Key:0, Key:1, … are known too).</summary>
    public IReadOnlySet<string> ListKeys => _lists;

    /// <summary>True when the key appears in the configuration at all, even as an empty list (<c>"Optimizers": []</c>).</summary>
    public bool Mentions(string key) => _configuration.AsEnumerable().Any(p => string.Equals(p.Key, key, StringComparison.OrdinalIgnoreCase));

    /// <summary>Marks a key as known without reading it.</summary>
    public void Declare(string key) => _known.Add(key);

    /// <summary>True when the key has a value (a list or section where one value belongs is an error).</summary>
    public bool Has(string key) => Raw(key) is not null;

    /// <summary>
    /// The raw string value, or null when absent. A list or a section given where one value belongs
    /// (<c>"Eta0": [0.1]</c>) is an error: the configuration library would otherwise report the key as absent and
    /// the default would be used in silence.
    /// </summary>
    public string? Raw(string key)
    {
        _known.Add(key);
        string? value = _configuration[key];
        if (value is null && _configuration.GetSection(key).GetChildren().Any())
        {
            throw new ExperimentException(File, key, "[…]", "expected one value, not a list or section");
        }

        if (value is not null && value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ExperimentException(File, key, value.Replace("\0", "\\0", StringComparison.Ordinal), "a value may not contain a NUL character");
        }

        return value;
    }

    /// <summary>A string restricted to <paramref name="allowed"/> (case-insensitive), returned in its canonical spelling.</summary>
    public string Choice(string key, string defaultValue, IReadOnlyCollection<string> allowed)
    {
        string? raw = Raw(key);
        if (raw is null)
        {
            return defaultValue;
        }

        string? match = allowed.FirstOrDefault(a => string.Equals(a, raw.Trim(), StringComparison.OrdinalIgnoreCase));
        return match ?? throw new ExperimentException(File, key, raw, $"allowed: {string.Join(", ", allowed)}");
    }

    /// <summary>A double in [min, max] (bounds optional; exclusive lower bound when <paramref name="minExclusive"/>).</summary>
    public double Double(string key, double defaultValue, double min = double.NegativeInfinity, double max = double.PositiveInfinity, bool minExclusive = false)
    {
        string? raw = Raw(key);
        if (raw is null)
        {
            return defaultValue;
        }

        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
        {
            // double.Parse reads "Infinity", "∞" and 1e309 (overflow) as ±∞; no setting means anything at ±∞.
            throw new ExperimentException(File, key, raw, "expected a finite number");
        }

        bool below = minExclusive ? !(value > min) : value < min;
        if (below || value > max)
        {
            throw new ExperimentException(File, key, raw, $"expected a number in {(minExclusive ? "(" : "[")}{Format(min)}, {Format(max)}]");
        }

        return value;
    }

    /// <summary>An optional double (null when absent).</summary>
    public double? OptionalDouble(string key, double min = double.NegativeInfinity, double max = double.PositiveInfinity, bool minExclusive = false) =>
        Has(key) ? Double(key, 0, min, max, minExclusive) : null;

    /// <summary>An integer in [min, max].</summary>
    public long Integer(string key, long defaultValue, long min = long.MinValue, long max = long.MaxValue)
    {
        string? raw = Raw(key);
        if (raw is null)
        {
            return defaultValue;
        }

        if (!long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value))
        {
            throw new ExperimentException(File, key, raw, "expected a whole number");
        }

        if (value < min || value > max)
        {
            throw new ExperimentException(File, key, raw, $"expected a whole number in [{min}, {max}]");
        }

        return value;
    }

    /// <summary>A boolean (true/false).</summary>
    public bool Boolean(string key, bool defaultValue)
    {
        string? raw = Raw(key);
        if (raw is null)
        {
            return defaultValue;
        }

        return bool.TryParse(raw, out bool value) ? value : throw new ExperimentException(File, key, raw, "expected true or false");
    }

    /// <summary>A list of doubles given as a JSON array (Key:0, Key:1, …) or a comma-separated string.</summary>
    public IReadOnlyList<double> DoubleList(string key, double min = double.NegativeInfinity)
    {
        return List(key).Select(p => ParseListItem(p.Key, p.Value, min)).ToArray();
    }

    /// <summary>A list of whole numbers given as a JSON array or a comma-separated string.</summary>
    public IReadOnlyList<long> IntegerList(string key)
    {
        return List(key).Select(p => long.TryParse(p.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v)
            ? v
            : throw new ExperimentException(File, p.Key, p.Value, "expected a whole number")).ToArray();
    }

    /// <summary>
    /// The child sections of a key holding a list of sections (<c>"Optimizers": [ { … }, { … } ]</c>) in index order.
    /// A single value there (<c>"Blocks": true</c>) or a value as an item (<c>"Optimizers": ["adam"]</c>) is an error.
    /// </summary>
    public IReadOnlyList<IConfigurationSection> Sections(string key)
    {
        _known.Add(key);
        string? scalar = _configuration[key];
        if (!string.IsNullOrEmpty(scalar))
        {
            throw new ExperimentException(File, key, scalar, "expected a list of sections [ { … }, … ], not one value");
        }

        IConfigurationSection[] children = Indexed(key);
        foreach (IConfigurationSection child in children)
        {
            if (child.Value is not null)
            {
                throw new ExperimentException(File, child.Path, child.Value, "expected a section { \"Name\": … }, not a single value");
            }
        }

        return children;
    }

    // Children of a list key in index order; an object with named children where a list belongs is an error.
    private IConfigurationSection[] Indexed(string key)
    {
        var children = new List<(int Index, IConfigurationSection Section)>();
        foreach (IConfigurationSection child in _configuration.GetSection(key).GetChildren())
        {
            if (!int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
            {
                throw new ExperimentException(File, child.Path, child.Value ?? "{…}", $"{key} is a list: expected [ … ], not an object with named keys");
            }

            children.Add((index, child));
        }

        return children.OrderBy(c => c.Index).Select(c => c.Section).ToArray();
    }

    private double ParseListItem(string key, string raw, double min)
    {
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v < min)
        {
            throw new ExperimentException(File, key, raw, $"expected a finite number ≥ {Format(min)}");
        }

        return v;
    }

    private List<KeyValuePair<string, string>> List(string key)
    {
        _known.Add(key);
        _lists.Add(key);
        var result = new List<KeyValuePair<string, string>>();
        string? scalar = _configuration[key];
        if (scalar is not null)
        {
            foreach (string part in scalar.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                result.Add(new(key, part));
            }

            return result;
        }

        foreach (IConfigurationSection child in Indexed(key))
        {
            _known.Add(child.Path);
            if (child.Value is null)
            {
                throw new ExperimentException(File, child.Path, null, "expected a value, not a section");
            }

            result.Add(new(child.Path, child.Value));
        }

        return result;
    }

    private static string Format(double x) => Math.Abs(x) >= double.MaxValue ? (x > 0 ? "∞" : "−∞") : x.ToString("G6", CultureInfo.InvariantCulture);
}
