using System.Text.Json.Nodes;
using ImplicitBias.Flow.Experiments.Configuration;

namespace ImplicitBias.Flow.Experiments.Outputs;

/// <summary>
/// The fully resolved settings of one run (one optimizer, one seed) written as an experiment file with the
/// same keys the loader reads, so <c>ibflow run DIR/config.json</c> reruns exactly that run.
/// </summary>
public static class ResolvedConfig
{
    /// <summary>The experiment JSON of optimizer <paramref name="optimizer"/> with seed <paramref name="seed"/>.</summary>
    public static JsonObject ToJson(ExperimentSettings s, OptimizerSettings optimizer, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(optimizer);
        // Only the keys the data kind reads: the loader rejects the others, and config.json must load again.
        var data = new JsonObject { ["Kind"] = s.Data.Kind };
        switch (s.Data.Kind)
        {
            case "npy":
                data["X"] = Path.GetFullPath(s.Data.X!);
                data["Y"] = Path.GetFullPath(s.Data.Y!);
                break;
            case "csv":
                data["File"] = Path.GetFullPath(s.Data.File!);
                data["LabelColumn"] = s.Data.LabelColumn;
                break;
            case "mnist" or "idx":
                data["Samples"] = s.Data.Samples;
                data["Directory"] = s.Data.Directory;
                break;
            default:
                data["Samples"] = s.Data.Samples;
                data["Dimension"] = s.Data.Dimension;
                break;
        }

        data["Seed"] = s.Data.Seed;
        var model = new JsonObject
        {
            ["Depth"] = s.Model.Depth,
            ["Width"] = s.Model.Width,
            ["Activation"] = s.Model.Activation,
            ["Q"] = s.Model.Q,
            ["InitScale"] = s.Model.InitScale,
            ["Seed"] = seed,
        };
        if (s.Model.Init is string init)
        {
            model["Init"] = Path.GetFullPath(init);
        }

        return new JsonObject
        {
            ["Name"] = s.Name,
            ["Data"] = data,
            ["Model"] = model,
            ["Loss"] = Vocabulary.Word(Vocabulary.LossWords, s.Loss),
            ["Optimizer"] = Optimizer(optimizer, withBlocks: true),
            ["Solver"] = new JsonObject
            {
                ["Method"] = s.Solver.Method,
                ["RelTol"] = s.Solver.RelTol,
                ["AbsTol"] = s.Solver.AbsTol,
                ["BlockScale"] = s.Solver.BlockScale,
                ["Backend"] = s.Solver.Backend,
                ["Step"] = s.Solver.Step,
                ["Precision"] = s.Solver.Precision,
                ["JacobianModelRank"] = s.Solver.JacobianModelRank,
            },
            ["Stop"] = new JsonObject
            {
                ["TargetLogLoss"] = s.Stop.TargetLogLoss,
                ["MaxTime"] = s.Stop.MaxTime,
                ["MaxSteps"] = s.Stop.MaxSteps,
            },
            ["Save"] = new JsonObject
            {
                ["PointsPerDecade"] = s.Save.PointsPerDecade,
                ["Times"] = new JsonArray(s.Save.Times.Select(t => (JsonNode?)t).ToArray()),
                ["Snapshots"] = new JsonArray(s.Save.Snapshots.Select(t => (JsonNode?)t).ToArray()),
                ["Sharpness"] = s.Save.Sharpness,
            },
            ["Seeds"] = new JsonArray(seed),
            ["Outputs"] = new JsonObject { ["Plots"] = s.Outputs.Plots, ["Npy"] = s.Outputs.Npy },
            ["Checkpoint"] = new JsonObject { ["Seconds"] = s.Checkpoint.Seconds },
        };
    }

    private static JsonObject Optimizer(OptimizerSettings o, bool withBlocks)
    {
        // Rates are written as c (exact); β = e^{−c} is derived on reading (docs/mathematics.md §4).
        var json = new JsonObject
        {
            ["Name"] = o.Name,
            ["Eta0"] = o.Eta0,
            ["Power"] = o.Power,
            ["TimeOffset"] = o.TimeOffset,
            ["C1"] = o.C1,
            ["C2"] = o.C2,
            ["Epsilon"] = o.Epsilon,
            ["SignWidth"] = o.SignWidth,
            ["SignMode"] = Vocabulary.Word(Vocabulary.SignModeWords, o.SignMode),
            ["MuonEta0"] = o.MuonEta0,
            ["AdamEta0"] = o.AdamEta0,
            ["MuonC"] = o.MuonC,
        };
        if (withBlocks && o.Blocks.Count > 0)
        {
            var blocks = new JsonArray();
            foreach (BlockOptimizerSettings b in o.Blocks)
            {
                JsonObject entry = Optimizer(b.Optimizer, withBlocks: false);
                entry["Block"] = Vocabulary.Word(Vocabulary.BlockWords, b.Block);
                blocks.Add(entry);
            }

            json["Blocks"] = blocks;
        }

        return json;
    }
}
