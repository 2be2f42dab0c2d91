using AppHost;
using AppHost.Hosting;
using AppHost.Publishing;

var builder = DistributedApplicationBuilder.Create(args);

builder.AddPlatform();

// publish [--output DIR]: write deployment files for this model instead of running it.
if (args is ["publish", ..])
{
    return await PublishCommand.RunAsync(builder, args);
}

await using var app = builder.Build();
return await app.RunAsync();
