var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
// The models, their schedule and the run history come with the Transformer issue; for now the
// service proves it is wired: it reaches ClickHouse and reports health.
builder.AddClickHouseClient("clickhouse");

var app = builder.Build();

app.MapDefaultEndpoints();

app.Run();
