if (Api.CommandLine.ApiCommands.IsCommand(args))
{
    return Api.CommandLine.ApiCommands.Run(args, Console.Out, Console.Error);
}

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();

app.MapDefaultEndpoints();
app.UseOutputCache();
app.UseRateLimiter();

app.MapOpenApi();
app.MapMetricsApis();
app.MapAlerts();

app.Run();
return 0;
