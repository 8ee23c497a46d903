-- Rejected records with the reason and the untouched payload, by processing hour.
CREATE TABLE raw_errors (
  reason STRING,
  payload STRING,
  received_at TIMESTAMP(3),
  `year` STRING, `month` STRING, `day` STRING, `hour` STRING
) PARTITIONED BY (`year`, `month`, `day`, `hour`) WITH (
  'connector' = 'filesystem',
  'path' = '${lake_path}/raw_errors',
  'format' = 'parquet',
  'sink.partition-commit.policy.kind' = 'success-file'
)
