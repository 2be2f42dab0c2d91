using AppHost;
using AppHost.Hosting;

var builder = DistributedApplicationBuilder.Create(args);

builder.AddPlatform();

await using var app = builder.Build();
return await app.RunAsync();
