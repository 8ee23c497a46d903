-- The auction stream as the job reads it: one raw UTF-8 JSON string per record.
-- event_time is parsed from the payload. A rejected record (malformed, or dated
-- further ahead than Job.event.time.max.ahead) never reaches a window; its row
-- time is the newest event time accepted so far by the same source reader, so a
-- shard carrying only rejected records neither holds the watermark back nor
-- pushes it ahead (AUCTION_ROW_TIME; the COALESCE is only a NOT NULL guard).
CREATE TABLE auction_stream (
  payload STRING,
  proc_time AS PROCTIME(),
  event_time AS COALESCE(${event_time_expr}, TIMESTAMP '1970-01-01 00:00:00'),
  WATERMARK FOR event_time AS event_time - ${lateness_interval}
) WITH (
  ${source_options}
)
