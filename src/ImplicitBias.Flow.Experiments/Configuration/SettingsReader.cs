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

    /// <summary>Marks a key as known without reading it.</summary>
    public void Declare(string key) => _known.Add(key);

    /// <summary>True when the key has a value.</summary>
    public bool Has(string key)
    {
        _known.Add(key);
        return _configuration[key] is not null;
    }

    /// <summary>The raw string value, or null.</summary>
    public string? Raw(string key)
    {
        _known.Add(key);
        return _configuration[key];
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

        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || double.IsNaN(value))
        {
            throw new ExperimentException(File, key, raw, "expected a number");
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

    /// <summary>The child sections of an array-valued key (Key:0, Key:1, …) in index order.</summary>
    public IReadOnlyList<IConfigurationSection> Sections(string key)
    {
        _known.Add(key);
        return _configuration.GetSection(key).GetChildren()
            .OrderBy(s => int.TryParse(s.Key, NumberStyles.Integer, CultureInfo.InvariantCulture, out int i) ? i : int.MaxValue)
            .ToArray();
    }

    private double ParseListItem(string key, string raw, double min)
    {
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || double.IsNaN(v) || v < min)
        {
            throw new ExperimentException(File, key, raw, $"expected a number ≥ {Format(min)}");
        }

        return v;
    }

    private List<KeyValuePair<string, string>> List(string key)
    {
        _known.Add(key);
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

        foreach (IConfigurationSection child in Sections(key))
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

    private static string Format(double x) => double.IsInfinity(x) ? (x > 0 ? "∞" : "−∞") : x.ToString("G6", CultureInfo.InvariantCulture);
}
