using System.Runtime.InteropServices;
using LoadGenerator;

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

// Ctrl-C and SIGTERM end the run early, and a platform this run started is still stopped on the way out.
using var cancel = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
try
{
    return await Benchmark.RunAsync(options, Console.Out, cancel.Token);
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine("Stopped before the end; no figures.");
    return 130;
}

void Stop(PosixSignalContext signal)
{
    signal.Cancel = true;
    cancel.Cancel();
}
