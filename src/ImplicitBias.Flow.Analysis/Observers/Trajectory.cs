using System.Collections;

namespace ImplicitBias.Flow.Analysis.Observers;

/// <summary>
/// The observations of a run, one per saved time, in order. Every observation has the same shape (the same norms, parts
/// and pattern presence), so that the trajectory is one table (<see cref="TrajectoryFormat"/> writes and reads it).
/// </summary>
public sealed class Trajectory : IReadOnlyList<Observation>
{
    private readonly List<Observation> _rows = [];

    /// <summary>An empty trajectory.</summary>
    public Trajectory()
    {
    }

    /// <summary>A trajectory of <paramref name="observations"/> (of one shape).</summary>
    /// <param name="observations">The observations in order.</param>
    /// <param name="finished">Whether their post-run values are set.</param>
    public Trajectory(IEnumerable<Observation> observations, bool finished = false)
    {
        ArgumentNullException.ThrowIfNull(observations);
        foreach (Observation o in observations)
        {
            Add(o);
        }

        Finished = finished;
    }

    /// <summary>Whether the post-run values (cosine to the last iterate, t/t_last, Lemma C.10 ratios) are set.</summary>
    public bool Finished { get; private set; }

    /// <summary>The number of observations.</summary>
    public int Count => _rows.Count;

    /// <summary>The <paramref name="index"/>-th observation.</summary>
    public Observation this[int index] => _rows[index];

    /// <summary>The last observation, or null when there is none.</summary>
    public Observation? Last => _rows.Count == 0 ? null : _rows[^1];

    /// <summary>Appends an observation of the same shape as the first.</summary>
    /// <exception cref="ArgumentException">Its norms, parts or pattern presence differ from the first observation's.</exception>
    public void Add(Observation observation)
    {
        ArgumentNullException.ThrowIfNull(observation);
        if (_rows.Count > 0 && !SameShape(_rows[0], observation))
        {
            throw new ArgumentException("An observation's norms, parts or pattern presence differ from the trajectory's first.", nameof(observation));
        }

        _rows.Add(observation);
    }

    /// <summary>One value per observation.</summary>
    public double[] Values(Func<Observation, double> value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var values = new double[_rows.Count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = value(_rows[i]);
        }

        return values;
    }

    /// <summary>Replaces every observation by its finished form (post-run values set), in order.</summary>
    internal void Finish(Func<int, Observation, Observation> finished)
    {
        for (int i = 0; i < _rows.Count; i++)
        {
            _rows[i] = finished(i, _rows[i]);
        }

        Finished = true;
    }

    /// <inheritdoc/>
    public IEnumerator<Observation> GetEnumerator() => _rows.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private static bool SameShape(Observation a, Observation b) =>
        a.Norms.Select(n => n.Norm).SequenceEqual(b.Norms.Select(n => n.Norm))
        && a.Parts.Select(p => (p.Part, p.SecondMoment is null)).SequenceEqual(b.Parts.Select(p => (p.Part, p.SecondMoment is null)))
        && a.PatternChanges.HasValue == b.PatternChanges.HasValue
        && (a.Sharpness is null) == (b.Sharpness is null);
}
