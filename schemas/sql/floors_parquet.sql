-- Floors as emitted, for audit and the A/B replay: outputs/predictions/real_time/
CREATE TABLE floors_parquet (
  level STRING,
  segment_key STRING,
  floor_eur DOUBLE,
  predicted_cpm_eur DOUBLE,
  model_version STRING,
  policy STRING,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  data_points BIGINT,
  expires_at BIGINT,
  -- the challenger arm's floor of the same window and its model; NULL (no attribute) without one
  challenger_floor_eur DOUBLE,
  challenger_model_version STRING,
  `year` STRING, `month` STRING, `day` STRING, `hour` STRING
) PARTITIONED BY (`year`, `month`, `day`, `hour`) WITH (
  'connector' = 'filesystem',
  'path' = '${lake_path}/outputs/predictions/real_time',
  'format' = 'parquet',
  'sink.partition-commit.policy.kind' = 'success-file'
)
