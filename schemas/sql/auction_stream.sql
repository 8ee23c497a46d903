-- The auction stream as the job reads it: one raw UTF-8 JSON string per record.
-- event_time is parsed from the payload (NULL-safe: malformed records get the
-- epoch, never reach a window, and cannot move the watermark backwards).
CREATE TABLE auction_stream (
  payload STRING,
  proc_time AS PROCTIME(),
  event_time AS COALESCE(${event_time_expr}, TIMESTAMP '1970-01-01 00:00:00'),
  WATERMARK FOR event_time AS event_time - ${lateness_interval}
) WITH (
  ${source_options}
)
