-- One row per online feature record written (udfs/feature_store.py): its identifier, its event
-- time and the PutRecord attempts it took. A blackhole: the receipt that matters is the record in
-- the Feature Store itself, the window's features are already in processed/features/, and the
-- writer's counters (records written, retries, throttled) go to CloudWatch as metrics. The sink
-- only gives the writer's result somewhere to go so that the write is part of the graph.
CREATE TABLE feature_store_writes (
  segment_id STRING,
  event_time STRING,
  attempts BIGINT
) WITH (
  'connector' = 'blackhole'
)
