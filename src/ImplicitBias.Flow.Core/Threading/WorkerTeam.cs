using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace ImplicitBias.Flow.Core.Threading;

/// <summary>
/// One process-wide team of background threads (one fewer than the cores) that runs the parts of a phase of work
/// (the loss evaluator's matrix products, the Rosenbrock-W method's projections onto its Krylov basis): part 0 on the
/// calling thread, part t on worker t − 1. One team for both, so that they never compete for the cores. It allocates nothing per phase (a generation
/// counter, semaphores and one reset event, no tasks, no closures), which Parallel.For does not achieve. When the
/// team is busy with another caller (several evaluators used from several threads at once) the parts run one after
/// another on the calling thread; that changes nothing in the results, because each part owns disjoint outputs and
/// sums in a fixed order.
/// </summary>
/// <remarks>
/// Both sides wait actively for a bounded time (<see cref="ActiveWaitMicroseconds"/>) before they block, as OpenMP
/// runtimes do (their "active" wait policy). Why: a gradient at width 10 takes ≈ 0.8 ms in two phases, and waking a
/// thread that has blocked in the kernel cost ≈ 85 µs per phase on the 2-core development machine (a virtual
/// machine). With the semaphores' own short spin, a process fell into a "slow" mode — one side always blocked — in
/// about 7 runs out of 10, at 0.95 ms per gradient instead of 0.78 ms (ibflow bench, width 10, one thread 1.55 ms).
/// A worker therefore polls a generation counter and the caller polls the count of unfinished parts; only after
/// the active wait do they fall back to the semaphore / event, so an idle process still sleeps.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "One team per process, alive until the process ends.")]
public sealed class WorkerTeam
{
    /// <summary>How long a waiting thread polls before it blocks.</summary>
    public const int ActiveWaitMicroseconds = 250;

    private static readonly Lazy<WorkerTeam> LazyShared = new(() => new WorkerTeam(Environment.ProcessorCount - 1));
    private static readonly long ActiveWaitTicks = Math.Max(1, Stopwatch.Frequency * ActiveWaitMicroseconds / 1_000_000);
    private readonly object _gate = new();
    private readonly SemaphoreSlim[] _go;
    private readonly int[] _sleeping; // 1 while worker w is (about to be) blocked on _go[w]
    private readonly ManualResetEventSlim _done = new(false);
    private Action<int>? _body;
    private int _parts;
    private long _generation; // one more per phase; workers poll it
    private Exception? _error;
    private readonly long[] _allocated;
    private int _pending;

    private WorkerTeam(int workers)
    {
        Workers = Math.Max(0, workers);
        _go = new SemaphoreSlim[Workers];
        _sleeping = new int[Workers];
        _allocated = new long[Workers];
        for (int w = 0; w < Workers; w++)
        {
            _go[w] = new SemaphoreSlim(0);
            int index = w;
            var thread = new Thread(() => Loop(index)) { IsBackground = true, Name = $"ibflow-gemm-{index + 1}" };
            thread.Start();
        }
    }

    /// <summary>The shared team.</summary>
    public static WorkerTeam Shared => LazyShared.Value;

    /// <summary>Worker threads (the caller makes one more).</summary>
    public int Workers { get; }

    /// <summary>The most parts a phase can run at once.</summary>
    public int MaxParts => Workers + 1;

    /// <summary>Bytes the worker threads have allocated in all, as of the end of their last part (for tests).</summary>
    public long WorkerAllocatedBytes
    {
        get
        {
            long total = 0;
            for (int w = 0; w < Workers; w++)
            {
                total += Volatile.Read(ref _allocated[w]);
            }

            return total;
        }
    }

    /// <summary>
    /// For tests only: runs on the worker that finished a phase last, between its count reaching zero and its signal,
    /// to widen the window in which a caller that returned by polling could meet a late signal in its next phase.
    /// </summary>
    internal Action? BeforeCompletionSignal { get; set; }

    /// <summary>Runs body(0) … body(parts − 1), concurrently when the team is free; returns when all are done.</summary>
    public void Run(int parts, Action<int> body)
    {
        if (parts <= 1 || parts > MaxParts || !Monitor.TryEnter(_gate))
        {
            for (int t = 0; t < parts; t++)
            {
                body(t);
            }

            return;
        }

        try
        {
            _error = null;
            _body = body;
            _parts = parts;
            _done.Reset();
            Volatile.Write(ref _pending, parts - 1);

            // The increment is a full fence: a worker that then finds its sleeping flag cleared by us is released
            // below, and one that has not set it yet will see the new generation (Dekker's handshake).
            Interlocked.Increment(ref _generation);
            for (int w = 0; w < Workers; w++)
            {
                if (Interlocked.Exchange(ref _sleeping[w], 0) == 1)
                {
                    _go[w].Release();
                }
            }

            Exception? own = null;
            try
            {
                body(0);
            }
            catch (Exception e)
            {
                own = e;
            }

            long start = Stopwatch.GetTimestamp();
            while (Volatile.Read(ref _pending) != 0 && Stopwatch.GetTimestamp() - start < ActiveWaitTicks)
            {
                Thread.SpinWait(8);
            }

            // The event may still be set by the previous phase's last worker (its Set can land after our Reset, since
            // we may have returned from that phase by polling), so the count decides, and a stale set is cleared.
            while (Volatile.Read(ref _pending) != 0)
            {
                _done.Wait();
                if (Volatile.Read(ref _pending) != 0)
                {
                    _done.Reset();
                }
            }

            _body = null;
            Exception? failure = own ?? _error;
            if (failure is not null)
            {
                ExceptionDispatchInfo.Throw(failure);
            }
        }
        finally
        {
            Monitor.Exit(_gate);
        }
    }

    private void Loop(int index)
    {
        long seen = 0;
        while (true)
        {
            seen = AwaitGeneration(index, seen);
            if (index + 1 >= Volatile.Read(ref _parts))
            {
                continue; // this phase has fewer parts than workers
            }

            try
            {
                _body!(index + 1);
            }
            catch (Exception e)
            {
                _error = e;
            }

            Volatile.Write(ref _allocated[index], GC.GetAllocatedBytesForCurrentThread());

            if (Interlocked.Decrement(ref _pending) == 0)
            {
                BeforeCompletionSignal?.Invoke();
                _done.Set();
            }
        }
    }

    /// <summary>Waits until the generation differs from <paramref name="seen"/>: polls first, then blocks.</summary>
    private long AwaitGeneration(int index, long seen)
    {
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            long generation = Volatile.Read(ref _generation);
            if (generation != seen)
            {
                return generation;
            }

            if (Stopwatch.GetTimestamp() - start < ActiveWaitTicks)
            {
                Thread.SpinWait(8);
                continue;
            }

            // Block. Announce it first (a full fence), then look once more: if a phase began meanwhile and its
            // caller already took the flag back, the caller has released (or will release) the semaphore, which
            // must then be consumed to keep the count balanced.
            Interlocked.Exchange(ref _sleeping[index], 1);
            if (Volatile.Read(ref _generation) != seen && Interlocked.Exchange(ref _sleeping[index], 0) == 1)
            {
                continue; // no release is coming: the flag was still ours
            }

            _go[index].Wait();
            start = Stopwatch.GetTimestamp();
        }
    }
}
