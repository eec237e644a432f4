using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Experiments.Outputs;
using ImplicitBias.Flow.Experiments.Running;

namespace ImplicitBias.Flow.Experiments.Sweeps;

/// <summary>What one run of a sweep did in this invocation.</summary>
/// <param name="Point">The run.</param>
/// <param name="Status">summary.json's status, or "skipped" for a run already finished before.</param>
/// <param name="Message">summary.json's message, or the error.</param>
/// <param name="WallSeconds">Seconds this invocation spent on it.</param>
public sealed record SweepRunResult(SweepPoint Point, string Status, string Message, double WallSeconds);

/// <summary>
/// Runs a sweep on this machine, <see cref="Jobs"/> runs at a time, each by <see cref="ExperimentRunner"/> into
/// its own folder exactly as <c>ibflow run</c> writes it. Finished runs (summary.json says so) are skipped;
/// unfinished ones continue from their checkpoint (<see cref="ExperimentRunner.Resume"/>); a failed run is
/// reported and the others go on. Cancelling stops every running solve cleanly (each writes its checkpoint).
/// </summary>
public sealed class SweepRunner
{
    private readonly SweepPlan _plan;
    private readonly string _root;
    private readonly TextWriter _log;
    private readonly object _gate = new();

    /// <summary>Creates a runner writing under <paramref name="outputDirectory"/>.</summary>
    public SweepRunner(SweepPlan plan, string outputDirectory, TextWriter log)
    {
        _plan = plan ?? throw new ArgumentNullException(nameof(plan));
        _root = outputDirectory ?? throw new ArgumentNullException(nameof(outputDirectory));
        _log = log ?? throw new ArgumentNullException(nameof(log));
    }

    /// <summary>Runs at a time (default <see cref="DefaultJobs"/>; see the README on how runs and the evaluator's threads share cores).</summary>
    public int Jobs { get; init; } = DefaultJobs;

    /// <summary>
    /// One run per core. The evaluator's thread team is shared by the process: while one run uses it, another run's
    /// evaluation runs serially on its own thread (same results), so every core stays busy. Measured on the 2-core
    /// machine (README): two runs at a time finished 12 small discrete runs in 5.2 s against 11.6 s one at a time.
    /// </summary>
    public static int DefaultJobs => Math.Max(1, Environment.ProcessorCount);

    /// <summary>True for a progress line rewritten in place (a terminal); false for a line per change.</summary>
    public bool Interactive { get; init; }

    /// <summary>Called after each run ends (tests).</summary>
    public Action<SweepRunResult>? RunEnded { get; init; }

    /// <summary>Writes the index files (sweep.json, tasks.txt) and every run's config.json without running anything.</summary>
    public void Prepare()
    {
        Directory.CreateDirectory(_root);
        foreach (SweepPoint p in _plan.Points)
        {
            string dir = Dir(p);
            CheckSameRun(p, dir);
            if (!File.Exists(Path.Combine(dir, "config.json")))
            {
                Directory.CreateDirectory(dir);
                JsonOutput.Write(Path.Combine(dir, "config.json"), ConfigOf(p));
            }
        }

        WriteIndex();
    }

    /// <summary>Runs every unfinished run; returns what each did.</summary>
    public IReadOnlyList<SweepRunResult> Run(CancellationToken cancellation = default)
    {
        Directory.CreateDirectory(_root);
        foreach (SweepPoint p in _plan.Points)
        {
            CheckSameRun(p, Dir(p));
        }

        WriteIndex();
        var results = new SweepRunResult?[_plan.Points.Count];
        int done = 0, running = 0, failed = 0, skipped = 0;
        double ranSeconds = 0;
        var clock = Stopwatch.StartNew();
        var todo = new List<SweepPoint>();
        foreach (SweepPoint p in _plan.Points)
        {
            if (StatusOf(Dir(p)) is { } s && ExperimentRunner.IsFinished(s))
            {
                results[p.Index] = new SweepRunResult(p, "skipped", $"already {s}", 0);
                skipped++;
                done++;
                failed += s == "failed" ? 1 : 0;
            }
            else
            {
                todo.Add(p);
            }
        }

        _log.WriteLine($"sweep {_plan.Name}: {_plan.Points.Count} runs ({skipped} already finished, {todo.Count} to run), {Jobs} at a time → {_root}");
        int ran = 0;

        void Show()
        {
            string eta = "?";
            int left = _plan.Points.Count - done;
            if (ran > 0)
            {
                double perRun = ranSeconds / ran;
                eta = FormatSeconds(perRun * left / Math.Min(Jobs, Math.Max(1, left)));
            }
            else if (left == 0)
            {
                eta = "0s";
            }

            string line = $"sweep: {done}/{_plan.Points.Count} done, {running} running, {failed} failed, {FormatSeconds(clock.Elapsed.TotalSeconds)} elapsed, ~{eta} left";
            if (Interactive)
            {
                _log.Write($"\r{line,-100}");
            }
            else
            {
                _log.WriteLine(line);
            }

            _log.Flush();
        }

        Show();
        var options = new ParallelOptions { MaxDegreeOfParallelism = Jobs };
        // In the sweep's order, one run handed out at a time (no chunks): with --jobs 1 the runs go one after another.
        Parallel.ForEach(Partitioner.Create(todo, EnumerablePartitionerOptions.NoBuffering), options, (p, state) =>
        {
            if (cancellation.IsCancellationRequested)
            {
                state.Stop();
                return;
            }

            lock (_gate)
            {
                running++;
                Show();
            }

            var watch = Stopwatch.StartNew();
            SweepRunResult r = RunOne(p, cancellation);
            watch.Stop();
            lock (_gate)
            {
                running--;
                results[p.Index] = r;
                if (r.Status != "interrupted")
                {
                    done++;
                    ran++;
                    ranSeconds += watch.Elapsed.TotalSeconds;
                }

                if (r.Status == "failed")
                {
                    failed++;
                    if (Interactive)
                    {
                        _log.WriteLine();
                    }

                    _log.WriteLine($"failed: {p.Folder}: {r.Message}");
                }

                Show();
            }

            RunEnded?.Invoke(r);
        });

        if (Interactive)
        {
            _log.WriteLine();
        }

        return results.Where(r => r is not null).Select(r => r!).ToArray();
    }

    private SweepRunResult RunOne(SweepPoint p, CancellationToken cancellation)
    {
        string dir = Dir(p);
        var clock = Stopwatch.StartNew();

        // The runner's own progress lines would interleave between parallel runs: the sweep shows one line for all.
        using var quiet = new StringWriter(CultureInfo.InvariantCulture);
        try
        {
            IReadOnlyList<RunOutcome> outcomes = File.Exists(Path.Combine(dir, "config.json"))
                ? ExperimentRunner.Resume(dir, quiet, interactive: false, SharedScripts, cancellation)
                : new ExperimentRunner(p.Settings, dir, quiet, interactive: false) { ScriptDirectory = SharedScripts }.Run(cancellation);
            RunOutcome o = outcomes[0];
            return new SweepRunResult(p, o.Status, o.Message, clock.Elapsed.TotalSeconds);
        }
        catch (Exception e) when (e is ExperimentException or IOException or InvalidDataException or ArithmeticException or InvalidOperationException or ArgumentException or OutOfMemoryException)
        {
            // One run's failure (a broken checkpoint, a full disk, a numerical breakdown) does not stop the others.
            string message = e.Message.ReplaceLineEndings(" ");
            try
            {
                JsonOutput.Write(Path.Combine(dir, "summary.json"), new JsonObject { ["status"] = "failed", ["message"] = message, ["finished"] = false });
            }
            catch (IOException)
            {
                // The disk may be the problem; the sweep's own report still names the run.
            }

            return new SweepRunResult(p, "failed", message, clock.Elapsed.TotalSeconds);
        }
    }

    // Every grid point's plots share the sweep's one plotly.min.js (3.6 MB) in DIR/plots.
    private string SharedScripts => Path.Combine(_root, "plots");

    private string Dir(SweepPoint p) => Path.Combine(_root, p.Folder.Replace('/', Path.DirectorySeparatorChar));

    private static JsonObject ConfigOf(SweepPoint p) => ResolvedConfig.ToJson(p.Settings, p.Settings.Optimizers[0], p.Seed);

    // Rerunning a sweep into a folder that holds the runs of a different sweep file would mix two studies silently.
    private void CheckSameRun(SweepPoint p, string dir)
    {
        string config = Path.Combine(dir, "config.json");
        if (File.Exists(config) && !JsonNode.DeepEquals(JsonOutput.Read(config), ConfigOf(p)))
        {
            throw new ExperimentException(_plan.File, $"{p.Folder}/config.json", null, $"{_root} already holds a run of that name with other settings; give another --out, or delete that folder to run it again");
        }
    }

    private static string? StatusOf(string dir)
    {
        string path = Path.Combine(dir, "summary.json");
        try
        {
            return File.Exists(path) ? JsonOutput.Read(path)["status"]?.GetValue<string>() : null;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Writes sweep.json (index → folder, coordinates, optimizer, seed) and tasks.txt (one folder a line, line i+1 = index i).</summary>
    private void WriteIndex()
    {
        var runs = new JsonArray();
        foreach (SweepPoint p in _plan.Points)
        {
            var coordinates = new JsonObject();
            foreach ((string k, string v) in p.Coordinates)
            {
                coordinates[k] = v;
            }

            runs.Add(new JsonObject
            {
                ["index"] = p.Index,
                ["folder"] = p.Folder,
                ["optimizer"] = p.Settings.Optimizers[0].Label,
                ["seed"] = p.Seed,
                ["coordinates"] = coordinates,
            });
        }

        JsonOutput.Write(Path.Combine(_root, IndexFile), new JsonObject { ["name"] = _plan.Name, ["file"] = Path.GetFullPath(_plan.File), ["axes"] = new JsonArray(_plan.Axes.Select(a => (JsonNode?)a).ToArray()), ["runs"] = runs });
        File.WriteAllLines(Path.Combine(_root, TasksFile), _plan.Points.Select(p => p.Folder));
    }

    /// <summary>The index file a sweep writes in its output folder.</summary>
    public const string IndexFile = "sweep.json";

    /// <summary>One run folder a line, relative to the sweep folder: line i + 1 is Slurm array index i.</summary>
    public const string TasksFile = "tasks.txt";

    private static string FormatSeconds(double s) =>
        s < 90 ? $"{s:F0}s" : s < 5400 ? $"{s / 60:F0}m" : $"{s / 3600:F1}h";
}
