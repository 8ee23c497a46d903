-- One row per drift feature and closed window (outputs/monitoring/drift/): the binned KS
-- statistic against the baseline, its error bound (scipy's ks_2samp statistic lies in
-- [statistic, statistic + error_bound]), the sample sizes, and the window's global score and
-- alert level. status says why a feature has no statistic: NO_DATA (no live value in the
-- window, or in calibrated mode fewer than Monitoring.drift.min.count), NO_BASELINE,
-- GRID_MISMATCH; statistic is then NULL, never 0 or NaN. threshold: the feature's WARNING
-- threshold in this window (the seed's warning level, or the calibrated one); level NO_CALIBRATION when the calibrated mode finds no calibration for the window
-- length in the baseline.
CREATE TABLE drift_records (
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  feature STRING,
  status STRING,
  level STRING,
  statistic DOUBLE,
  error_bound DOUBLE,
  live_count BIGINT,
  baseline_count BIGINT,
  cells INT,
  baseline_version STRING,
  global_score DOUBLE,
  global_level STRING,
  threshold DOUBLE,
  `year` STRING, `month` STRING, `day` STRING, `hour` STRING
) PARTITIONED BY (`year`, `month`, `day`, `hour`) WITH (
  'connector' = 'filesystem',
  'path' = '${lake_path}/outputs/monitoring/drift',
  'format' = 'parquet',
  'sink.partition-commit.policy.kind' = 'success-file'
)
