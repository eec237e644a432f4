namespace ImplicitBias.Flow.Solvers.Tests;

/// <summary>The one check of a resumed solve: it ends as the uninterrupted one did, bit for bit.</summary>
internal static class ResumeAssert
{
    /// <summary>
    /// Final time and state, step and evaluation counts, rejections by block, the stepper's note, and the saves after
    /// the checkpoint (exactly those times, with the same values) all equal those of <paramref name="whole"/>.
    /// </summary>
    public static void ContinuesBitForBit(OdeResult whole, OdeResult resumed)
    {
        Assert.Equal(whole.FinalTime, resumed.FinalTime);
        Assert.Equal(whole.FinalState, resumed.FinalState);
        Assert.Equal(whole.AcceptedSteps, resumed.AcceptedSteps);
        Assert.Equal(whole.RejectedSteps, resumed.RejectedSteps);
        Assert.Equal(whole.RejectedByBlock, resumed.RejectedByBlock);
        Assert.Equal(whole.RejectedByCoordinate.OrderBy(p => p.Key), resumed.RejectedByCoordinate.OrderBy(p => p.Key));
        Assert.Equal(whole.RhsEvaluations, resumed.RhsEvaluations);
        Assert.Equal(whole.StepperNote, resumed.StepperNote);
        int skipped = whole.SavedTimes.Count - resumed.SavedTimes.Count;
        Assert.Equal(whole.SavedTimes.Skip(skipped), resumed.SavedTimes);
        for (int i = 0; i < resumed.SavedStates.Count; i++)
        {
            Assert.Equal(whole.SavedStates[skipped + i], resumed.SavedStates[i]);
        }
    }
}
