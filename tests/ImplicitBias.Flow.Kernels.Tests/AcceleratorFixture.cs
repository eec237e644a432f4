using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace ImplicitBias.Flow.Kernels.Tests;

/// <summary>One ILGPU context and CPU accelerator for all tests: creating them and compiling kernels is slow.</summary>
public sealed class AcceleratorFixture : IDisposable
{
    public AcceleratorFixture()
    {
        Context = Context.Create(b => b.CPU().EnableAlgorithms());
        Accelerator = Context.CreateCPUAccelerator(0);
    }

    public Context Context { get; }

    public Accelerator Accelerator { get; }

    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class SharedAccelerator : ICollectionFixture<AcceleratorFixture>
{
    public const string Name = "ILGPU CPU accelerator";
}
