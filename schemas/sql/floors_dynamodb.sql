-- The floor lookup table the ad server reads by (level, segment_key).
-- Upsert: a replayed window rewrites the same item. Keys: see floors_table.json.
-- The endpoint and credentials options are appended where configured (locally).
CREATE TABLE floors_dynamodb (
  level STRING,
  segment_key STRING,
  floor_eur DOUBLE,
  predicted_cpm_eur DOUBLE,
  model_version STRING,
  window_start STRING,
  window_end STRING,
  data_points BIGINT,
  expires_at BIGINT,
  PRIMARY KEY (level, segment_key) NOT ENFORCED
) WITH (
  'connector' = 'dynamodb',
  'table-name' = '${floors_table}',
  'aws.region' = '${floors_region}',
  'sink.batch.max-size' = '25',
  -- A floor waits at most this long (ms) in the sink's buffer: freshness, not batching, matters.
  'sink.flush-buffer.timeout' = '200',
  -- One request in flight: a retried write can never land after a newer floor for the same key.
  'sink.requests.max-inflight' = '1'${floors_access_options}
)
