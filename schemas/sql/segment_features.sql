-- One row per segment (fine and coarse level) and closed window: the features
-- (processed/features/ is the offline feature history).
CREATE TABLE segment_features (
  level STRING,
  segment_key STRING,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  auctions BIGINT,
  fills BIGINT,
  fill_rate DOUBLE,
  sum_cpm_eur DOUBLE,
  mean_cpm_eur DOUBLE,
  mean_bid_count DOUBLE,
  mean_floor_price_eur DOUBLE,
  mean_top_bid_eur DOUBLE,
  mean_user_engagement_score DOUBLE,
  mean_device_performance_score DOUBLE,
  mean_historical_ctr_avg DOUBLE,
  premium_share DOUBLE,
  hour_of_day INT,
  day_of_week INT,
  is_weekend BOOLEAN,
  is_prime_time BOOLEAN,
  `year` STRING, `month` STRING, `day` STRING, `hour` STRING
) PARTITIONED BY (`year`, `month`, `day`, `hour`) WITH (
  'connector' = 'filesystem',
  'path' = '${lake_path}/processed/features',
  'format' = 'parquet',
  'sink.partition-commit.policy.kind' = 'success-file'
)
