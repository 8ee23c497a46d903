-- The floor lookup table the ad server reads by (level, segment_key).
-- Upsert: a replayed window rewrites the same item. Keys: see floors_table.json.
-- Conditional on window_end (ISO-8601 UTC text, compares in time order): a replay of an older
-- window (old snapshot, TRIM_HORIZON restart, backfill, blue/green) never overwrites a newer
-- floor; the same window is rewritten (idempotent). Skipped writes: dynamodb.floorsSkippedAsOlder.
-- The endpoint and credentials options are appended where configured (locally).
CREATE TABLE floors_dynamodb (
  level STRING,
  segment_key STRING,
  floor_eur DOUBLE,
  predicted_cpm_eur DOUBLE,
  model_version STRING,
  policy STRING,
  window_start STRING,
  window_end STRING,
  data_points BIGINT,
  expires_at BIGINT,
  -- the challenger arm's floor of the same window and its model; NULL (no attribute) without one
  challenger_floor_eur DOUBLE,
  challenger_model_version STRING,
  PRIMARY KEY (level, segment_key) NOT ENFORCED
) WITH (
  'connector' = 'dynamodb',
  'table-name' = '${floors_table}',
  'aws.region' = '${floors_region}',
  'sink.batch.max-size' = '25',
  -- A floor waits at most this long (ms) in the sink's buffer: freshness, not batching, matters.
  'sink.flush-buffer.timeout' = '200',
  -- One batch in flight (its puts run concurrently, one per key): a retried write can never land
  -- after a newer write for the same key, even of the same window, which the condition lets through.
  'sink.requests.max-inflight' = '1',
  'sink.conditional-write.attribute' = 'window_end'${floors_access_options}
)
