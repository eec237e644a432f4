using System.Runtime.InteropServices;
using ImplicitBias.Flow.Analysis.Observers;
using ImplicitBias.Flow.Core.IO;
using ImplicitBias.Flow.Flows;
using ImplicitBias.Flow.Solvers;

namespace ImplicitBias.Flow.Experiments.Running;

/// <summary>
/// The checkpoint of a running flow, one file (<see cref="FileName"/>) in its run folder, replaced atomically:
/// the engine's state between two steps (<see cref="OdeCheckpoint"/>: t, the state θ, σ, m̃, ṽ and their log
/// scales, the stepper's cached derivative, the controller's memory, counters, save cursor), the observer's state
/// (the trajectory so far, θ snapshots, last activation pattern and signs), the drift record of σ and the wall time
/// spent. Doubles are stored as their bits, so a resumed run continues bit for bit. A binary file: it is for
/// <c>ibflow run --resume</c>, not for reading from Python (the outputs are).
/// </summary>
public static class RunCheckpoint
{
    /// <summary>The checkpoint's file name inside a run folder.</summary>
    public const string FileName = "checkpoint.bin";

    private const string Magic = "ibflow-checkpoint";
    // Version 2 added the stepper's memory (a W matrix's build point, the phase of an explicit-then-exponential pair);
    // a version-1 file resumes with none, as it did before.
    // Version 3 added the rejections by block and by coordinate, version 4 the accumulated drift of σ, log L at the start,
    // the consistency windows and the tightenings of the tolerances (after the observer's state, so that a version-3 file reads as before).
    private const int Version = 4;

    /// <summary>What a checkpoint restores.</summary>
    /// <param name="Engine">The engine's state.</param>
    /// <param name="WallSeconds">Wall-clock seconds spent on the run before the checkpoint.</param>
    public sealed record Contents(OdeCheckpoint Engine, double WallSeconds);

    /// <summary>Writes the checkpoint of the run in <paramref name="directory"/> (atomically).</summary>
    public static void Write(string directory, OdeCheckpoint engine, TrajectoryObserver observer, LogLossDrift drift, double wallSeconds)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(observer);
        ArgumentNullException.ThrowIfNull(drift);
        AtomicFile.Write(Path.Combine(directory, FileName), stream =>
        {
            using var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
            w.Write(Magic);
            w.Write(Version);
            w.Write(wallSeconds);
            w.Write(engine.Time);
            WriteArray(w, engine.State);
            WriteArray(w, engine.Derivative);
            w.Write(engine.StepSize);
            w.Write(engine.PreviousError);
            w.Write(engine.RejectedLast);
            w.Write(engine.LastWasNonFinite);
            w.Write(engine.Steps);
            w.Write(engine.AcceptedSteps);
            w.Write(engine.RejectedSteps);
            w.Write(engine.RhsEvaluations);
            w.Write(engine.NextSave);
            WriteArray(w, engine.EventValues);
            WriteArray(w, engine.StepperMemory);
            WriteArray(w, engine.RejectedByBlock);
            WriteArray(w, engine.RejectedByCoordinate);
            w.Write(drift.MaxAbsolute);
            w.Write(drift.Anchors);
            w.Write(drift.UnconfirmedCrossings);
            w.Write(drift.ExactEvaluations);
            observer.WriteState(w);
            drift.WriteConsistency(w);
        });
    }

    /// <summary>
    /// Reads the checkpoint of <paramref name="directory"/> into <paramref name="observer"/> and
    /// <paramref name="drift"/>; null when there is none. A damaged file is an <see cref="InvalidDataException"/>.
    /// </summary>
    public static Contents? Read(string directory, TrajectoryObserver observer, LogLossDrift drift)
    {
        ArgumentNullException.ThrowIfNull(observer);
        ArgumentNullException.ThrowIfNull(drift);
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            using FileStream stream = File.OpenRead(path);
            using var r = new BinaryReader(stream);
            int version;
            if (r.ReadString() != Magic || (version = r.ReadInt32()) is < 1 or > Version)
            {
                throw new InvalidDataException($"'{path}' is not a checkpoint of this version of ibflow.");
            }

            double wall = r.ReadDouble();
            var engine = new OdeCheckpoint
            {
                Time = r.ReadDouble(),
                State = ReadArray<double>(r),
                Derivative = ReadArray<double>(r),
                StepSize = r.ReadDouble(),
                PreviousError = r.ReadDouble(),
                RejectedLast = r.ReadBoolean(),
                LastWasNonFinite = r.ReadBoolean(),
                Steps = r.ReadInt64(),
                AcceptedSteps = r.ReadInt64(),
                RejectedSteps = r.ReadInt64(),
                RhsEvaluations = r.ReadInt64(),
                NextSave = r.ReadInt32(),
                EventValues = ReadArray<double>(r),
            };
            if (version >= 2)
            {
                engine = engine with { StepperMemory = ReadArray<double>(r) };
            }

            if (version >= 3)
            {
                engine = engine with { RejectedByBlock = ReadArray<long>(r), RejectedByCoordinate = ReadArray<long>(r) };
            }

            drift.MaxAbsolute = r.ReadDouble();
            drift.Anchors = r.ReadInt64();
            drift.UnconfirmedCrossings = r.ReadInt64();
            drift.ExactEvaluations = r.ReadInt64();
            observer.ReadState(r);
            if (version >= 4)
            {
                drift.ReadConsistency(r);
            }

            return new Contents(engine, wall);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"'{path}' is truncated.");
        }
    }

    // Arrays are a length and the values, little-endian (BinaryWriter's own layout for double and long, which every
    // platform .NET runs on shares), written and read as one block of bytes.
    private static void WriteArray<T>(BinaryWriter w, T[] values)
        where T : unmanaged
    {
        w.Write(values.Length);
        w.Write(MemoryMarshal.AsBytes(values.AsSpan()));
    }

    private static T[] ReadArray<T>(BinaryReader r)
        where T : unmanaged
    {
        int length = r.ReadInt32();
        if (length < 0 || length > 1 << 28)
        {
            throw new InvalidDataException($"A checkpoint array claims {length} values.");
        }

        var values = new T[length];
        r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }
}
