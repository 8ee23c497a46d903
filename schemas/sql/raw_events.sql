-- Accepted events, typed and enriched, partitioned by event hour: raw/year=/month=/day=/hour=/
CREATE TABLE raw_events (
  impression_id STRING,
  event_time TIMESTAMP(3),
  country STRING,
  country_tier INT,
  device_category STRING,
  format STRING,
  inventory_type STRING,
  domain STRING,
  ad_unit STRING,
  bidder STRING,
  demand_channel STRING,
  user_engagement_score DOUBLE,
  device_performance_score DOUBLE,
  historical_ctr_avg DOUBLE,
  floor_price_eur DOUBLE,
  bid_count INT,
  top_bid_eur DOUBLE,
  second_bid_eur DOUBLE,
  filled BOOLEAN,
  cpm_eur DOUBLE,
  hour_of_day INT,
  day_of_week INT,
  is_weekend BOOLEAN,
  is_prime_time BOOLEAN,
  is_eu BOOLEAN,
  `year` STRING, `month` STRING, `day` STRING, `hour` STRING
) PARTITIONED BY (`year`, `month`, `day`, `hour`) WITH (
  'connector' = 'filesystem',
  'path' = '${lake_path}/raw',
  'format' = 'parquet',
  'sink.partition-commit.policy.kind' = 'success-file'
)
