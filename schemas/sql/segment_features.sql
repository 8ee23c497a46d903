-- One row per segment (fine and coarse level) and closed window: the features
-- (processed/features/ is the offline feature history).
-- The window columns come from schemas/segment_windows.py (placeholder window_columns).
CREATE TABLE segment_features (
  ${window_columns},
  `year` STRING, `month` STRING, `day` STRING, `hour` STRING
) PARTITIONED BY (`year`, `month`, `day`, `hour`) WITH (
  'connector' = 'filesystem',
  'path' = '${lake_path}/processed/features',
  'format' = 'parquet',
  'sink.partition-commit.policy.kind' = 'success-file'
)
