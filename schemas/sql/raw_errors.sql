-- Rejected records with the reason, by processing hour. A rejected record may be anything a
-- producer sent, bytes that are not UTF-8 included (NOT_UTF8), so the record is kept twice:
--   payload       the exact bytes read from the stream (Parquet BINARY): nothing lost or changed
--   payload_text  the same as UTF-8 text, each invalid sequence replaced by U+FFFD (UTF8_TEXT):
--                 equal to the record when it is UTF-8, and readable by every Parquet reader (a
--                 STRING column holding invalid UTF-8 makes pandas, pyarrow's to_pandas and
--                 DuckDB refuse the whole file)
CREATE TABLE raw_errors (
  reason STRING,
  payload BYTES,
  payload_text STRING,
  received_at TIMESTAMP(3),
  `year` STRING, `month` STRING, `day` STRING, `hour` STRING
) PARTITIONED BY (`year`, `month`, `day`, `hour`) WITH (
  'connector' = 'filesystem',
  'path' = '${lake_path}/raw_errors',
  'format' = 'parquet',
  'sink.partition-commit.policy.kind' = 'success-file'
)
