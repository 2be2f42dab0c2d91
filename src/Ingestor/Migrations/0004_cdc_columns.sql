-- The CDC bridge's record of each replicated table's PostgreSQL columns (name, type, typmod, key), written
-- when the apply side creates cdc_<table> or adds a column to it. ClickHouse's own column types cannot say
-- whether int4 became int8 or varchar(10) varchar(20); this can, after a restart too.
-- generation: when cdc_<table> was created; a dropped and recreated table starts a new generation.
CREATE TABLE IF NOT EXISTS {database}.cdc_columns
(
    table_name String,
    generation UInt64,
    position UInt16,
    column_name String,
    pg_type String,
    type_modifier Int32,
    is_key UInt8,
    recorded_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (table_name, generation, column_name);
