using ImplicitBias.Flow.Core.Threading;

namespace ImplicitBias.Flow.Core.Tests.Threading;

public class WorkerTeamTests
{
    // Every part of a phase must have finished when Run returns. The team's threads poll before they block, so a
    // phase can end by polling while the last worker's completion signal is still in flight; a stale signal must not
    // end the next phase early. Phases alternate between an immediate return and waits long enough that the caller
    // gives up polling and blocks, so both ways of ending a phase meet the late signal.
    [Fact]
    public void Run_ReturnsOnlyAfterEveryPartOfThePhase()
    {
        WorkerTeam team = WorkerTeam.Shared;
        int parts = team.MaxParts;
        var done = new long[parts];
        long phase = 0;
        int waitMicroseconds = 0;
        void Body(int part)
        {
            if (part > 0 && waitMicroseconds > 0)
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                while (System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMicroseconds < waitMicroseconds)
                {
                    Thread.SpinWait(4);
                }
            }

            Volatile.Write(ref done[part], Volatile.Read(ref phase));
        }

        int late = 0;
        for (int k = 1; k <= 3000; k++)
        {
            phase = k;
            waitMicroseconds = (k % 7) switch { 0 => WorkerTeam.ActiveWaitMicroseconds * 2, 1 => 20, _ => 0 };
            team.Run(parts, Body);
            for (int p = 0; p < parts; p++)
            {
                if (Volatile.Read(ref done[p]) != k)
                {
                    late++;
                }
            }

            if (k % 500 == 0)
            {
                Thread.Sleep(2); // let the workers fall back to blocking now and then
            }
        }

        Assert.Equal(0, late);
    }

    // The same, made deterministic: the last worker of phase k signals only after a delay, so the caller returns from
    // phase k by polling and the late signal lands while phase k + 1 runs, whose worker part outlasts the caller's
    // polling; a caller that trusted the event would return before that part is done.
    [Fact]
    public void Run_IgnoresTheLateSignalOfThePreviousPhase()
    {
        WorkerTeam team = WorkerTeam.Shared;
        if (team.MaxParts < 2)
        {
            return; // one core: the parts run in turn on the caller, and there is no signal to meet
        }

        var done = new long[2];
        int late = 0;
        try
        {
            for (int k = 1; k <= 20; k++)
            {
                team.BeforeCompletionSignal = () => Thread.Sleep(2);
                team.Run(2, p => Volatile.Write(ref done[p], 2 * k));
                team.BeforeCompletionSignal = null;
                team.Run(2, p =>
                {
                    if (p == 1)
                    {
                        Thread.Sleep(5);
                    }

                    Volatile.Write(ref done[p], (2 * k) + 1);
                });
                if (Volatile.Read(ref done[1]) != (2 * k) + 1)
                {
                    late++;
                }
            }
        }
        finally
        {
            team.BeforeCompletionSignal = null;
        }

        Assert.Equal(0, late);
    }

    // An exception in a worker's part reaches the caller, and the team keeps working afterwards.
    [Fact]
    public void Run_RethrowsAWorkersFailure_AndStaysUsable()
    {
        WorkerTeam team = WorkerTeam.Shared;
        if (team.MaxParts < 2)
        {
            Assert.Throws<InvalidOperationException>(() => team.Run(2, p => throw new InvalidOperationException("part " + p)));
            return;
        }

        var ex = Assert.Throws<InvalidOperationException>(() => team.Run(2, p =>
        {
            if (p == 1)
            {
                throw new InvalidOperationException("worker part");
            }
        }));
        Assert.Equal("worker part", ex.Message);

        var ran = new int[2];
        team.Run(2, p => ran[p] = 1);
        Assert.Equal([1, 1], ran);
    }
}
