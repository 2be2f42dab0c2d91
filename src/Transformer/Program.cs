using Transformer.Apis;
using Transformer.CommandLine;

// The same binary is the service and its command line: `Transformer run --select stg_events+`.
if (TransformerCommands.IsCommand(args))
{
    return await TransformerCommands.RunAsync(args, Console.Out);
}

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddTransformerService();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapStatusApi();

await app.RunAsync();
return 0;
