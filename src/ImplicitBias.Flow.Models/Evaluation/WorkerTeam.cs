using System.Runtime.ExceptionServices;

namespace ImplicitBias.Flow.Models.Evaluation;

/// <summary>
/// One process-wide team of background threads (one fewer than the cores) that runs the parts of a phase of the
/// evaluator: part 0 on the calling thread, part t on worker t − 1. It allocates nothing per phase (semaphores
/// and one reset event, no tasks, no closures), which Parallel.For does not achieve. When the team is busy
/// with another caller (several evaluators used from several threads at once) the parts run one after another
/// on the calling thread; that changes nothing in the results, because each part owns disjoint outputs and
/// sums in a fixed order.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "One team per process, alive until the process ends.")]
internal sealed class WorkerTeam
{
    private static readonly Lazy<WorkerTeam> LazyShared = new(() => new WorkerTeam(Environment.ProcessorCount - 1));
    private readonly object _gate = new();
    private readonly SemaphoreSlim[] _go;
    private readonly ManualResetEventSlim _done = new(false);
    private Action<int>? _body;
    private Exception? _error;
    private readonly long[] _allocated;
    private int _pending;

    private WorkerTeam(int workers)
    {
        Workers = Math.Max(0, workers);
        _go = new SemaphoreSlim[Workers];
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
            _done.Reset();
            Volatile.Write(ref _pending, parts - 1);
            for (int w = 0; w < parts - 1; w++)
            {
                _go[w].Release();
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

            _done.Wait();
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
        while (true)
        {
            _go[index].Wait();
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
                _done.Set();
            }
        }
    }
}
