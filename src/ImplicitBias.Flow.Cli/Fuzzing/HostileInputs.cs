using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Random;

namespace ImplicitBias.Flow.Cli.Fuzzing;

/// <summary>One generated input: the command line, the <c>IBFLOW_</c> variables, and the values a run must record.</summary>
/// <param name="Index">Case number within its seed.</param>
/// <param name="Description">What was mutated, for reports.</param>
/// <param name="Args">The <c>ibflow</c> arguments.</param>
/// <param name="Environment">Environment variables seen by the experiment loader.</param>
/// <param name="Expected">Keys given explicitly and the value config.json must hold for them when the run succeeds.</param>
/// <param name="OutputFolder">The folder a successful run writes (summary.json must be there).</param>
public sealed record FuzzCase(int Index, string Description, string[] Args, IReadOnlyDictionary<string, string> Environment, IReadOnlyDictionary<string, string> Expected, string? OutputFolder);

/// <summary>How a case ended.</summary>
/// <param name="Case">The case.</param>
/// <param name="ExitCode">ibflow's exit code (−1 for a hang).</param>
/// <param name="Verdict">"error" (a clean one-line error), "run" (a sensible run), or a failure: "crash", "hang", "accepted-bad", "messy-error".</param>
/// <param name="Detail">The error line, or what is wrong.</param>
/// <param name="Seconds">Wall-clock seconds.</param>
public sealed record FuzzOutcome(FuzzCase Case, int ExitCode, string Verdict, string Detail, double Seconds)
{
    /// <summary>True for the two acceptable endings.</summary>
    public bool Acceptable => Verdict is "error" or "run";
}

/// <summary>
/// A seeded generator of hostile but fair inputs to <c>ibflow</c> (issue: "no crash on any input"): mutations of a
/// tiny experiment through the file, <c>--Key</c> overrides and <c>IBFLOW_</c> variables (±∞, 1e309, NaN, lists where
/// values belong and back, misspelled keys, bad names), malformed .npy, CSV and MNIST cache files, and junk arguments
/// to run, plot, compare and data. Every case must end in a one-line error or a sensible run whose config.json holds
/// exactly the values given; never a stack trace, never a hang. Runs in-process; the base problem is tiny and
/// capped (MaxSteps, MaxTime) so a sensible run takes milliseconds.
/// </summary>
public static class HostileInputs
{
    private const string BaseJson = """
    {
      "Name": "fuzz",
      "Data": { "Kind": "gaussian", "Samples": 8, "Dimension": 3, "Seed": 1 },
      "Model": { "Depth": 2, "Width": 4, "Activation": "relu-q", "Q": 2, "InitScale": 0.1, "Seed": 1 },
      "Loss": "exponential",
      "Optimizer": { "Name": "ngd", "Eta0": 1.0, "Power": 0.8 },
      "Solver": { "Method": "auto", "Backend": "cpu" },
      "Stop": { "TargetLogLoss": -3, "MaxTime": 20, "MaxSteps": 60 },
      "Save": { "PointsPerDecade": 2 },
      "Outputs": { "Plots": false, "Npy": false }
    }
    """;

    // Scalar keys, and sensible values that keep a run tiny (a mutation picks hostile values or one of these).
    private static readonly (string Key, string[] Good)[] Keys =
    [
        ("Data:Kind", ["gaussian", "xor", "XOR"]),
        ("Data:Samples", ["4", "12"]),
        ("Data:Dimension", ["2", "5"]),
        ("Data:Seed", ["0", "7"]),
        ("Model:Depth", ["1", "3"]),
        ("Model:Width", ["2", "6"]),
        ("Model:Activation", ["relu", "quadratic", "identity", "relu-q"]),
        ("Model:Q", ["1.5", "3"]),
        ("Model:InitScale", ["0.5", "1e-3"]),
        ("Model:Seed", ["3"]),
        ("Loss", ["logistic", "exponential"]),
        ("Optimizer:Name", [.. OptimizerRegistry.Names]),
        ("Optimizer:Eta0", ["0.5", "2"]),
        ("Optimizer:Power", ["0.9", "0.5"]),
        ("Optimizer:TimeOffset", ["2", "0.5"]),
        ("Optimizer:C1", ["0.3", "2"]),
        ("Optimizer:Beta2", ["0.99"]),
        ("Optimizer:Epsilon", ["1e-8", "0"]),
        ("Optimizer:SignWidth", ["0.01"]),
        ("Optimizer:SignMode", ["exact", "smooth"]),
        ("Solver:Method", ["dopri5", "tsit5", "bs3", "dop853", "discrete", "euler", "rk4", "heun-euler", "etd2", "etdrk4"]),
        ("Solver:RelTol", ["1e-4", "1e-8"]),
        ("Solver:AbsTol", ["1e-6"]),
        ("Solver:BlockScale", ["0", "0.01"]),
        ("Solver:Backend", ["cpu"]),
        ("Solver:Step", ["0.5", "0.1"]),
        ("Solver:JacobianModelRank", ["0", "4"]),
        ("Stop:TargetLogLoss", ["-1", "-5"]),
        ("Stop:TargetLoss", ["0.1"]),
        ("Stop:MaxTime", ["5", "1e-3", "1e-6", "1e308"]),
        ("Stop:MaxSteps", ["1", "30"]),
        ("Save:PointsPerDecade", ["1", "5"]),
        ("Save:Times", ["1,2,3", "0.5"]),
        ("Save:Snapshots", ["1", "2,4"]),
        ("Seeds", ["1,2", "5"]),
        ("Name", ["fuzz-b", "run.1"]),
        ("Outputs:Npy", ["true", "false"]),
    ];

    private static readonly string[] HostileNumbers =
    [
        "Infinity", "-Infinity", "∞", "1e309", "-1e309", "NaN", "1e308", "-1e308", "5e-324", "-5e-324", "0", "-0", "-1",
        "1e-300", "abc", "", " ", "1,2", "[1]", "true", "0x10", "１", "1e", "--1", "9223372036854775808", "-9223372036854775809",
        "2147483648", "1e6", "1000000", "1.5", "+3", " 2 ", "1_000",
    ];

    private static readonly string[] HostileStrings = ["", " ", "/abs", "../x", "a/b", ".", "..", "\0", "a\0b", "line\nbreak", "ÄÖÜ", "con", new string('x', 300), "%00", "~", "-"];

    /// <summary>Generates case <paramref name="index"/> of <paramref name="seed"/>, writing its files into <paramref name="folder"/>.</summary>
    public static FuzzCase Generate(ulong seed, int index, string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        Directory.CreateDirectory(folder);
        var rng = new Xoshiro256StarStar((seed * 1_000_003UL) + (ulong)index);
        string outDir = Path.Combine(folder, "out");
        string experiment = Path.Combine(folder, "e.json");
        JsonObject json = JsonNode.Parse(BaseJson)!.AsObject();
        var args = new List<string>();
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        var expected = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string description;
        bool writeJson = true;
        int kind = Pick(rng, 13);
        switch (kind)
        {
            case 0 or 1 or 2:
            {
                // One key through one channel, with a hostile or a sensible value.
                (string key, string[] good) = Keys[Pick(rng, Keys.Length)];
                bool sensible = Pick(rng, 3) == 0;
                string value = sensible ? good[Pick(rng, good.Length)] : key is "Name" or "Data:Kind" or "Loss" or "Optimizer:Name" or "Solver:Method" or "Model:Activation" ? Choose(rng, HostileStrings) : Choose(rng, HostileNumbers);

                // A million samples, features or hidden units is a valid size, but a slow run, not a hostile input.
                if (value == "1000000" && key is "Model:Width" or "Data:Samples" or "Data:Dimension")
                {
                    value = "1000001";
                }

                int channel = Pick(rng, 4);
                description = $"{key} = '{Escape(value)}' via {(channel switch { 0 => "file", 1 => "--Key=value", 2 => "--Key value", _ => "IBFLOW_" })}";
                switch (channel)
                {
                    case 0:
                        SetInFile(json, key, value, asString: Pick(rng, 2) == 0 || !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _));
                        break;
                    case 1:
                        args.Add($"--{key}={value}");
                        break;
                    case 2:
                        args.Add($"--{key}");
                        args.Add(value);
                        break;
                    default:
                        env[ExperimentLoader.EnvironmentPrefix + key.Replace(":", "__", StringComparison.Ordinal)] = value;
                        break;
                }

                if (sensible)
                {
                    expected[key] = value;
                }

                break;
            }

            case 3:
            {
                // A JSON value of the wrong shape: a list or object where a value belongs, a value where a section belongs.
                (string key, _) = Keys[Pick(rng, Keys.Length)];
                JsonNode wrong = Pick(rng, 5) switch
                {
                    0 => new JsonArray(1.5),
                    1 => new JsonObject { ["a"] = 1 },
                    2 => new JsonArray(),
                    3 => new JsonArray(new JsonArray(1)),
                    _ => JsonValue.Create(true),
                };
                string section = Choose(rng, ["Data", "Model", "Optimizer", "Solver", "Stop", "Save", "Outputs", "Optimizers", "Optimizer:Blocks"]);
                if (Pick(rng, 2) == 0)
                {
                    SetNode(json, key, wrong);
                    description = $"{key} = {wrong.ToJsonString()} in the file";
                }
                else
                {
                    JsonNode v = Pick(rng, 3) switch { 0 => JsonValue.Create("adam"), 1 => new JsonArray("adam"), _ => JsonValue.Create(5) };
                    if (section == "Optimizers")
                    {
                        json.Remove("Optimizer");
                    }

                    SetNode(json, section, v);
                    description = $"section {section} = {v.ToJsonString()}";
                }

                break;
            }

            case 4:
            {
                // A misspelled or unknown key through one channel.
                string key = Choose(rng, ["Optimizer:Etaa0", "Optimizer__Eta0", "Model:Widht", "Stop:MaxTim", "Foo", "Data:Kindd", "Save:Times:x", "Optimizer:Blocks:0:Nmae", "Solver", "name:x"]);
                int channel = Pick(rng, 3);
                if (channel == 0)
                {
                    SetInFile(json, key, "1", asString: false);
                }
                else if (channel == 1)
                {
                    args.Add($"--{key}=1");
                }
                else
                {
                    env[ExperimentLoader.EnvironmentPrefix + key.Replace(":", "__", StringComparison.Ordinal)] = "1";
                }

                description = $"unknown key {key} via channel {channel}";
                break;
            }

            case 5:
            {
                // A broken experiment file.
                writeJson = false;
                byte[] content = Pick(rng, 8) switch
                {
                    0 => [],
                    1 => Encoding.UTF8.GetBytes(BaseJson[..(BaseJson.Length / 2)]),
                    2 => Encoding.UTF8.GetBytes("[1, 2, 3]"),
                    3 => Encoding.UTF8.GetBytes("null"),
                    4 => [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("{ \"Loss\": \"logistic\", }")],
                    5 => Enumerable.Range(0, 64).Select(_ => (byte)rng.NextUInt64()).ToArray(),
                    6 => Encoding.UTF8.GetBytes("{ \"Loss\": \"logistic\", \"Loss\": \"exponential\" }"),
                    _ => Encoding.UTF8.GetBytes("{ \"Stop\": { \"MaxTime\": 1e400 } }"),
                };
                File.WriteAllBytes(experiment, content);
                description = $"experiment file of {content.Length} junk bytes";
                break;
            }

            case 6 or 7:
            {
                description = DataFileCase(rng, folder, json);
                break;
            }

            case 8:
            {
                // Junk arguments to run.
                int which = Pick(rng, 7);
                description = $"run arguments #{which}";
                switch (which)
                {
                    case 0:
                        return Case(index, "run \"\"", ["run", ""], env, expected, null);
                    case 1:
                        File.WriteAllText(experiment, json.ToJsonString());
                        return Case(index, "--out \"\"", ["run", experiment, "--out", ""], env, expected, null);
                    case 2:
                        File.WriteAllText(experiment, json.ToJsonString());
                        return Case(index, "--out missing", ["run", experiment, "--out"], env, expected, null);
                    case 3:
                        File.WriteAllText(experiment, json.ToJsonString());
                        return Case(index, "--out is a file", ["run", experiment, "--out", experiment], env, expected, null);
                    case 4:
                        File.WriteAllText(experiment, json.ToJsonString());
                        return Case(index, "two experiments", ["run", experiment, experiment, "--out", outDir], env, expected, null);
                    case 5:
                        return Case(index, "experiment is a folder", ["run", folder, "--out", outDir], env, expected, null);
                    default:
                        File.WriteAllText(experiment, json.ToJsonString());
                        return Case(index, "unknown option", ["run", experiment, "--outt", outDir, "--frobnicate"], env, expected, null);
                }
            }

            case 9:
            {
                string runDir = Path.Combine(folder, "r");
                Directory.CreateDirectory(runDir);
                string content = Choose(rng, ["", "\n", "a,b\n1,2\n", "t,logLoss\n", "t,logLoss\n1\n", "t,logLoss\n0,1\n1,x\n", "t,logLoss\n0,1\n1,0.5\n"]);
                File.WriteAllText(Path.Combine(runDir, "trajectory.csv"), content);
                if (Pick(rng, 2) == 0)
                {
                    File.WriteAllText(Path.Combine(runDir, "summary.json"), Choose(rng, ["{", "[]", "{\"optimizer\": 5}", "{\"optimizer\": \"ngd\"}"]));
                }

                return Case(index, $"plot of trajectory '{Escape(content)}'", ["plot", runDir, "--out", outDir], env, expected, null);
            }

            case 12:
            {
                // A per-block composite with one defect, or none.
                var blocks = new JsonArray(
                    new JsonObject { ["Block"] = "matrices", ["Name"] = "muon", ["Eta0"] = 0.05 },
                    new JsonObject { ["Block"] = "output", ["Name"] = "adam", ["Eta0"] = 0.05 });
                int defect = Pick(rng, 6);
                switch (defect)
                {
                    case 0: blocks[1]!["Block"] = "matrices"; break;
                    case 1: blocks[0]!["Block"] = "hidden"; break;
                    case 2: blocks[0]!["Blocks"] = new JsonArray(new JsonObject { ["Name"] = "adam" }); break;
                    case 3: blocks[1]!["Name"] = "muon"; break;
                    default: break;
                }

                json["Optimizer"] = new JsonObject { ["Name"] = "ngd", ["Blocks"] = blocks };
                description = $"per-block composite, defect {defect}";
                break;
            }

            case 10:
            {
                string h = Choose(rng, ["1e-9", "0", "-1", "abc", "1,1", "0.5,0.25", "3", "1e308", "", "NaN", "0.3"]);
                string time = Choose(rng, ["1", "0", "-1", "1e-9", "Infinity", "2"]);
                File.WriteAllText(experiment, json.ToJsonString());
                return Case(index, $"compare --h {h} --time {time}", ["compare", experiment, "--h", h, "--time", time, "--out", outDir], env, expected, null);
            }

            default:
            {
                File.WriteAllText(experiment, json.ToJsonString());
                int which = Pick(rng, 4);
                string[] a = which switch
                {
                    0 => ["data", "npy", experiment, "--out", outDir],
                    1 => ["data", "npy", experiment],
                    2 => ["data", "npy", experiment, "--out", ""],
                    _ => ["data", "frob"],
                };
                return Case(index, $"data #{which}", a, env, expected, which == 0 ? outDir : null);
            }
        }

        if (writeJson)
        {
            File.WriteAllText(experiment, json.ToJsonString());
        }

        // Now and then the same mutation goes to verify or compare, which read experiments the same way.
        switch (Pick(rng, 10))
        {
            case 0:
                return Case(index, "verify: " + description, ["verify", experiment, .. args], env, [], null);
            case 1:
                return Case(index, "compare: " + description, ["compare", experiment, "--h", "0.5,0.25", "--time", "1", "--out", outDir, .. args], env, [], null);
            default:
                return Case(index, description, ["run", experiment, "--out", outDir, .. args], env, expected, outDir);
        }
    }

    /// <summary>Runs one case in-process and judges it; a case still running after <paramref name="timeout"/> is a hang.</summary>
    public static FuzzOutcome Run(FuzzCase c, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(c);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        var task = Task.Run(() =>
        {
            using (ExperimentLoader.UseEnvironment(c.Environment))
            {
                return Program.Run(c.Args, TextWriter.Synchronized(output), TextWriter.Synchronized(error));
            }
        });
        if (!task.Wait(timeout))
        {
            return new FuzzOutcome(c, -1, "hang", $"still running after {timeout.TotalSeconds} s", clock.Elapsed.TotalSeconds);
        }

        int code = task.Result;
        string stdout = output.ToString(), stderr = error.ToString();
        double seconds = clock.Elapsed.TotalSeconds;
        FuzzOutcome Outcome(string verdict, string detail) => new(c, code, verdict, detail, seconds);

        string all = stdout + stderr;
        if (code == Program.InternalError || all.Contains("   at ", StringComparison.Ordinal) || all.Contains("Unhandled exception", StringComparison.Ordinal))
        {
            return Outcome("crash", stderr.Trim());
        }

        string[] errorLines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith("warning:", StringComparison.Ordinal) && !l.Contains(" compare flow:", StringComparison.Ordinal))
            .ToArray();
        string? summary = c.OutputFolder is { } o && Directory.Exists(o) ? Directory.GetFiles(o, "summary.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal).FirstOrDefault() : null;
        bool honestFailure = code == 1 && errorLines.Length == 0 && summary is not null && stdout.Contains("failed", StringComparison.Ordinal);
        if (code != 0 && !honestFailure)
        {
            return errorLines.Length == 1 ? Outcome("error", errorLines[0]) : Outcome("messy-error", $"exit {code} with {errorLines.Length} error lines: {string.Join(" | ", errorLines)}");
        }

        if (c.Args[0] == "run")
        {
            if (summary is null)
            {
                return Outcome("accepted-bad", "exit 0 but no summary.json");
            }

            string config = Path.Combine(Path.GetDirectoryName(summary)!, "config.json");
            if (JsonNode.Parse(File.ReadAllText(config)) is not JsonObject resolved)
            {
                return Outcome("accepted-bad", "config.json is not an object");
            }

            foreach ((string key, string value) in c.Expected)
            {
                if (!Recorded(resolved, key, value, out string found))
                {
                    return Outcome("accepted-bad", $"{key} given as '{value}' but config.json holds {found}");
                }
            }
        }
        else if (c.OutputFolder is { } folder && !Directory.EnumerateFiles(folder).Any())
        {
            return Outcome("accepted-bad", $"exit 0 but nothing in {folder}");
        }

        return Outcome("run", stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? string.Empty);
    }

    /// <summary>Generates and runs cases 0 … count−1 of a seed, each in its own folder under <paramref name="root"/> (deleted after).</summary>
    public static IReadOnlyList<FuzzOutcome> RunMany(ulong seed, int count, string root, TimeSpan timeout, Action<FuzzOutcome>? onCase = null)
    {
        var outcomes = new List<FuzzOutcome>(count);
        for (int i = 0; i < count; i++)
        {
            string folder = Path.Combine(root, i.ToString(CultureInfo.InvariantCulture));
            FuzzOutcome outcome = Run(Generate(seed, i, folder), timeout);
            outcomes.Add(outcome);
            onCase?.Invoke(outcome);
            if (outcome.Verdict != "hang")
            {
                try
                {
                    Directory.Delete(folder, recursive: true);
                }
                catch (IOException)
                {
                    // A leftover folder of a finished case costs only disk space.
                }
            }
        }

        return outcomes;
    }

    // Malformed (or, sometimes, good) data files for Data:Kind = npy, csv, mnist, or Model:Init.
    private static string DataFileCase(Xoshiro256StarStar rng, string folder, JsonObject json)
    {
        var data = json["Data"]!.AsObject();
        string x = Path.Combine(folder, "X.npy"), y = Path.Combine(folder, "y.npy");
        int which = Pick(rng, 4);
        if (which == 0)
        {
            data.Clear();
            data["Kind"] = "npy";
            data["X"] = x;
            data["Y"] = y;
            int m = 6, d = 3;
            double[] xs = Enumerable.Range(0, m * d).Select(k => Math.Sin(k + 1.0)).ToArray();
            double[] ys = Enumerable.Range(0, m).Select(k => k % 2 == 0 ? 1.0 : -1.0).ToArray();
            int defect = Pick(rng, 10);
            switch (defect)
            {
                case 0: xs[4] = double.NaN; break;
                case 1: ys[2] = 0; break;
                case 2: ys = ys[..^1]; break;
                case 3: Npy.WriteFile(x, xs); break; // 1-D X
                default: break;
            }

            if (defect != 3)
            {
                Npy.WriteFile(x, xs, [m, d]);
            }

            Npy.WriteFile(y, ys);
            if (defect >= 4 && defect <= 8)
            {
                CorruptNpy(rng, defect == 8 ? y : x);
            }

            return $"npy data, defect {defect}";
        }

        if (which == 1)
        {
            string csv = Path.Combine(folder, "d.csv");
            data.Clear();
            data["Kind"] = "csv";
            data["File"] = csv;
            string label = Choose(rng, ["label", "y", "missing"]);
            if (label != "label")
            {
                data["LabelColumn"] = label;
            }

            string content = Choose(rng,
            [
                "a,b,label\n1,2,1\n3,4,-1\n5,6,1\n",
                "a,b,y\n1,2,1\n3,4,-1\n",
                "a,b,label\n1,2,1\n3,4\n",
                "a,b,label\n1,2,0\n3,4,1\n",
                "a,b,label\nNaN,2,1\n3,4,-1\n",
                "",
                "label\n1\n-1\n",
                "a,b,label\n",
                "a;b;label\n1;2;1\n",
                "a,b,label\n1e309,2,1\n3,4,-1\n",
            ]);
            File.WriteAllText(csv, content);
            return $"csv data '{Escape(content)}' with label column '{label}'";
        }

        if (which == 2)
        {
            data.Clear();
            data["Kind"] = "mnist";
            data["Directory"] = folder;
            int perClass = 3;
            MnistDigits digits = new(Enumerable.Range(0, 10).Select(c => Enumerable.Range(0, perClass * MnistDigits.Pixels).Select(k => ((c * 31) + k) % 17 / 17.0).ToArray()).ToArray());
            string cache = Path.Combine(folder, "mnist.bin");
            digits.WriteCache(cache);
            int defect = Pick(rng, 7);
            byte[] bytes = File.ReadAllBytes(cache);
            switch (defect)
            {
                case 0: bytes = []; break;
                case 1: bytes = bytes[..(bytes.Length / 3)]; break;
                case 2: bytes[0] = (byte)'X'; break;
                case 3: BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), -1); break;
                case 4: BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(12 + 80), double.NaN); break;
                default: break;
            }

            File.WriteAllBytes(cache, bytes);

            // The default 2048 samples need more digits than 3 per class: one more defect, "too few digits".
            string samples = defect == 5 ? "2048" : Choose(rng, ["20", "30", "31", "1", "0"]);
            data["Samples"] = samples;
            json["Model"]!["Width"] = 2;
            return $"mnist cache, defect {defect}, Samples {samples}";
        }

        if (Pick(rng, 3) == 0)
        {
            // IDX files: good, truncated, wrong magic, wrong size, a label beyond 9, junk gzip.
            data.Clear();
            data["Kind"] = "idx";
            data["Directory"] = folder;
            data["Samples"] = 10;
            json["Model"]!["Width"] = 2;
            const int n = 12;
            byte[] images = new byte[16 + (n * MnistDigits.Pixels)], labels = new byte[8 + n];
            BinaryPrimitives.WriteInt32BigEndian(images, 2051);
            BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), n);
            BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(8), 28);
            BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(12), 28);
            BinaryPrimitives.WriteInt32BigEndian(labels, 2049);
            BinaryPrimitives.WriteInt32BigEndian(labels.AsSpan(4), n);
            for (int i = 0; i < n; i++)
            {
                labels[8 + i] = (byte)(i % 10);
                images.AsSpan(16 + (i * MnistDigits.Pixels), MnistDigits.Pixels).Fill((byte)(7 * i));
            }

            int defect = Pick(rng, 7);
            switch (defect)
            {
                case 0: images = images[..(images.Length / 2)]; break;
                case 1: BinaryPrimitives.WriteInt32BigEndian(images, 2049); break;
                case 2: BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(8), 1 << 20); break;
                case 3: labels[10] = 200; break;
                case 4: BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), -5); break;
                case 5: images = [0x1f, 0x8b, 1, 2, 3]; break;
                default: break;
            }

            File.WriteAllBytes(Path.Combine(folder, "train-images-idx3-ubyte"), images);
            File.WriteAllBytes(Path.Combine(folder, "train-labels-idx1-ubyte"), labels);
            return $"idx files, defect {defect}";
        }

        string init = Path.Combine(folder, "init.npy");
        int parameters = (3 * 4) + 4;
        double[] theta = Enumerable.Range(0, parameters).Select(k => 0.1 * Math.Cos(k)).ToArray();
        int kind = Pick(rng, 6);
        switch (kind)
        {
            case 0: theta[3] = double.NaN; break;
            case 1: theta = theta.Select(v => v * 1e300).ToArray(); break;
            case 2: theta = theta[..^1]; break;
            default: break;
        }

        Npy.WriteFile(init, theta);
        if (kind == 3)
        {
            CorruptNpy(rng, init);
        }

        json["Model"]!["Init"] = init;
        return $"Model:Init .npy, defect {kind}";
    }

    // Rewrites a .npy header or body with one of the defects real files have.
    private static void CorruptNpy(Xoshiro256StarStar rng, string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        string header = Encoding.ASCII.GetString(bytes, 10, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)));
        int defect = Pick(rng, 9);
        string replaced = defect switch
        {
            0 => ReplaceShape(header, "(abc,)"),
            1 => ReplaceShape(header, "(-1,)"),
            2 => ReplaceShape(header, "(99999999999,)"),
            3 => ReplaceShape(header, "(2000000000, 2000000000)"),
            4 => header.Replace("<f8", "<f2", StringComparison.Ordinal),
            5 => header.Replace("False", "True", StringComparison.Ordinal),
            6 => ReplaceShape(header, "(2, 3, 4)"),
            _ => header,
        };
        byte[] result;
        if (defect == 7)
        {
            result = bytes[..(bytes.Length - 5)];
        }
        else if (defect == 8)
        {
            // Version 2 with a header length of 0xFFFFFFF0.
            result = [.. bytes[..6], 2, 0, 0xF0, 0xFF, 0xFF, 0xFF, .. bytes[10..]];
        }
        else
        {
            string padded = replaced.TrimEnd('\n').PadRight(header.Length - 1) + "\n";
            result = [.. bytes[..8], .. BitConverter.GetBytes((ushort)padded.Length), .. Encoding.ASCII.GetBytes(padded), .. bytes[(10 + header.Length)..]];
        }

        File.WriteAllBytes(path, result);
    }

    private static string ReplaceShape(string header, string shape)
    {
        int start = header.IndexOf("'shape': ", StringComparison.Ordinal) + 9;
        int end = header.IndexOf(')', start) + 1;
        return header[..start] + shape + header[end..];
    }

    private static bool Recorded(JsonObject config, string key, string given, out string found)
    {
        found = "nothing";
        if (key is "Seeds" or "Save:Times" or "Save:Snapshots" or "Stop:TargetLoss" or "Optimizer:Beta2" or "Optimizer:C1")
        {
            // Lists are checked per run (one seed per folder); TargetLoss and β are recorded as log L and c.
            return true;
        }

        JsonNode? node = config;
        foreach (string part in key.Split(':'))
        {
            node = node is JsonObject o ? o[part] : null;
        }

        if (node is not JsonValue value)
        {
            return false;
        }

        found = value.ToJsonString();
        string text = given.Trim();
        if (value.TryGetValue(out double number))
        {
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double g) && g == number;
        }

        if (value.TryGetValue(out bool flag))
        {
            return bool.TryParse(text, out bool g) && g == flag;
        }

        return value.TryGetValue(out string? s) && string.Equals(s, key == "Name" ? given : text, key == "Name" ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);
    }

    private static FuzzCase Case(int index, string description, string[] args, Dictionary<string, string> env, Dictionary<string, string> expected, string? outDir) =>
        new(index, description, args, env, expected, outDir);

    // The value as a JSON string, or as the raw JSON literal when it is one (1e309 stays the number 1e309).
    private static void SetInFile(JsonObject json, string key, string value, bool asString)
    {
        JsonNode? node = null;
        if (!asString)
        {
            try
            {
                node = JsonNode.Parse(value.Trim()) as JsonValue;
            }
            catch (System.Text.Json.JsonException)
            {
                node = null;
            }
        }

        SetNode(json, key, node ?? JsonValue.Create(value));
    }

    private static void SetNode(JsonObject json, string key, JsonNode? node)
    {
        string[] parts = key.Split(':');
        JsonObject parent = json;
        foreach (string part in parts[..^1])
        {
            if (parent[part] is not JsonObject child)
            {
                child = [];
                parent[part] = child;
            }

            parent = child;
        }

        parent[parts[^1]] = node;
    }

    private static int Pick(Xoshiro256StarStar rng, int n) => (int)(rng.NextUInt64() % (ulong)n);

    private static string Choose(Xoshiro256StarStar rng, string[] options) => options[Pick(rng, options.Length)];

    private static string Escape(string s) => s.Length > 40 ? Escape(s[..37]) + "…" : s.Replace("\n", "\\n", StringComparison.Ordinal).Replace("\0", "\\0", StringComparison.Ordinal);
}
