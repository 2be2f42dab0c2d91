using System.Runtime.InteropServices;
using LoadGenerator;
using LoadGenerator.Cdc;
using LoadGenerator.Queries;

// scripts/bench queries ...: the query latency benchmark instead of the intake one.
if (args is ["queries", ..])
{
    QueryBenchOptions queryOptions;
    try
    {
        queryOptions = QueryBenchOptions.Parse(args[1..]);
    }
    catch (FormatException ex)
    {
        Console.Error.WriteLine(ex.Message);
        return 2;
    }

    if (queryOptions.Help)
    {
        Console.WriteLine(QueryBenchOptions.Usage);
        return 0;
    }

    return await RunStoppableAsync(token => QueryBenchmark.RunAsync(queryOptions, Console.Out, token));
}

// scripts/bench repair ...: how long the Transformer takes to repair an imported history by itself.
if (args is ["repair", ..])
{
    try
    {
        return await RunStoppableAsync(token => LoadGenerator.Repair.RepairBenchmark.RunAsync(args[1..], Console.Out, token));
    }
    catch (FormatException ex)
    {
        Console.Error.WriteLine(ex.Message);
        return 2;
    }
}

// scripts/bench cdc ...: the CDC bridge's replication lag under a steady write load.
if (args is ["cdc", ..])
{
    CdcBenchOptions cdcOptions;
    try
    {
        cdcOptions = CdcBenchOptions.Parse(args[1..]);
    }
    catch (FormatException ex)
    {
        Console.Error.WriteLine(ex.Message);
        return 2;
    }

    if (cdcOptions.Help)
    {
        Console.WriteLine(CdcBenchOptions.Usage);
        return 0;
    }

    return await RunStoppableAsync(token => CdcBenchmark.RunAsync(cdcOptions, Console.Out, token));
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (FormatException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

if (options.Help)
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}

return await RunStoppableAsync(token => Benchmark.RunAsync(options, Console.Out, token));

// Ctrl-C and SIGTERM end the run early, and a platform this run started is still stopped on the way out.
static async Task<int> RunStoppableAsync(Func<CancellationToken, Task<int>> run)
{
    using var cancel = new CancellationTokenSource();
    void Stop(PosixSignalContext signal)
    {
        signal.Cancel = true;
        cancel.Cancel();
    }

    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
    try
    {
        return await run(cancel.Token);
    }
    catch (OperationCanceledException) when (cancel.IsCancellationRequested)
    {
        Console.Error.WriteLine("Stopped before the end; no figures.");
        return 130;
    }
}
