-- Valid events that arrived after the watermark had passed them (beyond the allowed
-- lateness): kept here, with the watermark they met, instead of vanishing from the
-- windows. They are in raw/ too; no window counts them. By processing hour.
CREATE TABLE raw_late (
  impression_id STRING,
  event_time TIMESTAMP(3),
  watermark_at_arrival TIMESTAMP(3),
  payload STRING,
  received_at TIMESTAMP(3),
  `year` STRING, `month` STRING, `day` STRING, `hour` STRING
) PARTITIONED BY (`year`, `month`, `day`, `hour`) WITH (
  'connector' = 'filesystem',
  'path' = '${lake_path}/raw_late',
  'format' = 'parquet',
  'sink.partition-commit.policy.kind' = 'success-file'
)
