using System.Text.Json.Nodes;
using Ingestor.Cdc;
using Ingestor.Cdc.Apply;

namespace Platform.FunctionalTests.Cdc;

/// <summary>The pure parts of the apply side: PostgreSQL types and text values to ClickHouse, and the schema comparison.</summary>
public sealed class ApplyConversionTests
{
    [Theory]
    [InlineData("int2", "Int16")]
    [InlineData("int4", "Int32")]
    [InlineData("int8", "Int64")]
    [InlineData("float4", "Float32")]
    [InlineData("float8", "Float64")]
    [InlineData("numeric", "Float64")]
    [InlineData("bool", "UInt8")]
    [InlineData("date", "Date")]
    [InlineData("timestamp", "DateTime('UTC')")]
    [InlineData("timestamptz", "DateTime('UTC')")]
    [InlineData("text", "String")]
    [InlineData("varchar", "String")]
    [InlineData("uuid", "String")]
    [InlineData("jsonb", "String")]
    [InlineData("_int4", "String")]
    [InlineData("plan_kind", "String")]
    public void TypesMapAsDocumented(string pgType, string clickHouseType) => Assert.Equal(clickHouseType, CdcTypes.ClickHouseType(pgType));

    [Theory]
    [InlineData("int2", "-32768", "-32768")]
    [InlineData("int4", "2147483647", "2147483647")]
    [InlineData("int8", "-9223372036854775808", "-9223372036854775808")]
    [InlineData("numeric", "12.50", "12.5")]
    [InlineData("numeric", "NaN", "\"nan\"")]
    [InlineData("float8", "-Infinity", "\"-inf\"")]
    [InlineData("float4", "1.5e10", "15000000000")]
    [InlineData("bool", "t", "1")]
    [InlineData("bool", "f", "0")]
    [InlineData("date", "2026-02-28", "\"2026-02-28\"")]
    [InlineData("timestamptz", "2026-11-22T04:38:41.999999Z", "\"2026-11-22 04:38:41\"")]
    [InlineData("timestamptz", "2026-11-22 06:38:41.5+02", "\"2026-11-22 04:38:41\"")]
    [InlineData("timestamptz", "2026-11-22T04:38:41-05:30", "\"2026-11-22 10:08:41\"")]
    [InlineData("timestamp", "2026-11-22 04:38:41.123", "\"2026-11-22 04:38:41\"")]
    [InlineData("text", "it's \"quoted\"\n", "\"it\\u0027s \\u0022quoted\\u0022\\n\"")]
    [InlineData("_text", "{a,b}", "\"{a,b}\"")]
    public void ValuesConvertToClickHouseValues(string pgType, string text, string json)
    {
        Assert.True(CdcTypes.TryConvert(text, pgType, out var value, out var error), error);
        Assert.Equal(json, value!.ToJsonString());
    }

    [Theory]
    [InlineData("int2", "32768", "'32768' is not an int2.")]
    [InlineData("int4", "1.5", "'1.5' is not an int4.")]
    [InlineData("int8", "", "'' is not an int8.")]
    [InlineData("numeric", "12,5", "'12,5' is not a numeric.")]
    [InlineData("bool", "yes", "'yes' is not a bool (t or f).")]
    [InlineData("date", "infinity", "'infinity' is not a date ClickHouse can store (yyyy-MM-dd, 1970-2105).")]
    [InlineData("date", "1969-12-31", "'1969-12-31' is not a date ClickHouse can store (yyyy-MM-dd, 1970-2105).")]
    [InlineData("timestamptz", "2200-01-01T00:00:00Z", "'2200-01-01T00:00:00Z' is not a timestamptz ClickHouse can store (ISO 8601, 1970-2105).")]
    [InlineData("timestamp", "soon", "'soon' is not a timestamp ClickHouse can store (ISO 8601, 1970-2105).")]
    public void ValuesThatDoNotParseAreRefusedWithAReason(string pgType, string text, string reason)
    {
        Assert.False(CdcTypes.TryConvert(text, pgType, out _, out var error));
        Assert.Equal(reason, error);
    }

    [Fact]
    public void NullIsNullForEveryType()
    {
        Assert.True(CdcTypes.TryConvert(null, "int4", out var value, out _));
        Assert.Null(value);
    }

    [Theory]
    [InlineData("varchar", 24, "varchar(20)")]
    [InlineData("bpchar", 5, "bpchar(1)")]
    [InlineData("numeric", (10 << 16 | 2) + 4, "numeric(10,2)")]
    [InlineData("int4", -1, "int4")]
    public void TypesAreDescribedAsPostgreSqlWritesThem(string type, int modifier, string described) => Assert.Equal(described, CdcTypes.Describe(type, modifier));

    [Fact]
    public void SchemaCheckFindsAddedDroppedRetypedAndRekeyedColumns()
    {
        var table = new CdcTable("public", "users");
        var schema = new CdcTableSchema(1, [new("id", "text", -1, true, 0), new("age", "int4", -1, false, 1)]);
        ChangeColumn Col(string name, string type, bool key = false) => new(name, type, -1, key);

        Assert.Same(SchemaCheck.Same, schema.Check(table, [Col("id", "text", true), Col("age", "int4")], "0/1"));
        Assert.Equal(["country"], schema.Check(table, [Col("id", "text", true), Col("age", "int4"), Col("country", "text")], "0/1").Added.Select(c => c.Name));
        Assert.Equal("public.users.age was retyped from int4 to text; apply stopped at LSN 0/16B3748; see docs/cdc-apply.md (a stopped table).",
            schema.Check(table, [Col("id", "text", true), Col("age", "text")], "0/16B3748").StopReason);
        Assert.Equal("public.users.age was dropped (or renamed); apply stopped at LSN 0/2; see docs/cdc-apply.md (a stopped table).",
            schema.Check(table, [Col("id", "text", true)], "0/2").StopReason);
        Assert.Equal("public.users.age joined the primary key; apply stopped at LSN 0/3; see docs/cdc-apply.md (a stopped table).",
            schema.Check(table, [Col("id", "text", true), Col("age", "int4", true)], "0/3").StopReason);
        Assert.Equal("public.users.org was added to the primary key; apply stopped at LSN 0/4; see docs/cdc-apply.md (a stopped table).",
            schema.Check(table, [Col("id", "text", true), Col("age", "int4"), Col("org", "int8", true)], "0/4").StopReason);
        Assert.Equal("public.users.is_deleted has the name of one of the bridge's own columns; apply stopped at LSN 0/5; see docs/cdc-apply.md (a stopped table).",
            schema.Check(table, [Col("id", "text", true), Col("age", "int4"), Col("is_deleted", "bool")], "0/5").StopReason);
    }

    [Fact]
    public void AnUnchangedToastedColumnIsLeftOutOfAnUpdateOnly()
    {
        var columns = new[] { new ChangeColumn("id", "int8", -1, true), new ChangeColumn("doc", "jsonb", -1, false) };
        var update = Parse(new ChangeEnvelope("u", new() { ["id"] = "1" }, new() { ["id"] = "1" }, Source(), columns, "acme"));
        Assert.Null(update.Refusal);
        Assert.Equal(["doc"], update.Unchanged);
        Assert.Equal("1", update.KeyText);

        var insert = Parse(new ChangeEnvelope("c", null, new() { ["id"] = "1" }, Source(), columns, "acme"));
        Assert.Equal("after lacks column 'doc' (only an update may leave out an unchanged value).", insert.Refusal);

        var delete = Parse(new ChangeEnvelope("d", new() { ["id"] = "7" }, null, Source(), columns, "acme"));
        Assert.Null(delete.Refusal);
        Assert.True(delete.IsDelete);
        Assert.Equal(7, delete.Key.Single().Value!.GetValue<long>());

        static ChangeSource Source() => new("public", "docs", 5, "0/5", DateTimeOffset.UnixEpoch.AddYears(50), 1, false);
        static CdcChange Parse(ChangeEnvelope envelope) => CdcChange.Parse(
            new Confluent.Kafka.ConsumeResult<byte[], byte[]>
            {
                Topic = "cdc.public.docs",
                Message = new Confluent.Kafka.Message<byte[], byte[]> { Value = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(envelope, CdcJsonContext.Default.ChangeEnvelope) },
            },
            new CdcTable("public", "docs"), "acme");
    }
}
