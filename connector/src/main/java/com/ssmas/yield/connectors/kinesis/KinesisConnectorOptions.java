package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

import java.time.Duration;

/** Options of the {@code 'connector' = 'kinesis'} table source (names as the official connector). */
public final class KinesisConnectorOptions {

    private KinesisConnectorOptions() {}

    /** Where a shard is read from when the job starts without state. */
    public enum InitialPosition {
        TRIM_HORIZON,
        LATEST,
        AT_TIMESTAMP
    }

    public static final ConfigOption<String> STREAM_ARN =
            ConfigOptions.key("stream.arn")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("ARN of the Kinesis data stream to read.");

    public static final ConfigOption<InitialPosition> STREAM_INITIAL_POSITION =
            ConfigOptions.key("source.init.position")
                    .enumType(InitialPosition.class)
                    .defaultValue(InitialPosition.LATEST)
                    .withDescription(
                            "Initial position when the job starts without state: TRIM_HORIZON, "
                                    + "LATEST or AT_TIMESTAMP (with source.init.timestamp).");

    public static final ConfigOption<String> STREAM_INITIAL_TIMESTAMP =
            ConfigOptions.key("source.init.timestamp")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Start timestamp for AT_TIMESTAMP: in source.init.timestamp.format, or "
                                    + "epoch seconds (with optional fraction).");

    public static final ConfigOption<String> STREAM_TIMESTAMP_DATE_FORMAT =
            ConfigOptions.key("source.init.timestamp.format")
                    .stringType()
                    .defaultValue("yyyy-MM-dd'T'HH:mm:ss.SSSXXX")
                    .withDescription("java.time pattern of source.init.timestamp.");

    public static final ConfigOption<Duration> SHARD_DISCOVERY_INTERVAL =
            ConfigOptions.key("source.shard.discovery.interval")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(10))
                    .withDescription("How often ListShards runs to discover new shards.");

    public static final ConfigOption<Duration> SHARD_GET_RECORDS_INTERVAL =
            ConfigOptions.key("source.shard.get-records.interval")
                    .durationType()
                    .defaultValue(Duration.ofMillis(200))
                    .withDescription(
                            "Wait before polling a shard again after a GetRecords call that "
                                    + "returned records: the fast cadence while there is data. "
                                    + "At least 200 ms (Kinesis allows 5 GetRecords calls per "
                                    + "second per shard, shared by all consumers).");

    public static final ConfigOption<Duration> EMPTY_RECORDS_FETCH_INTERVAL =
            ConfigOptions.key("source.reader.empty-records-fetch-interval")
                    .durationType()
                    .defaultValue(Duration.ofMillis(200))
                    .withDescription(
                            "Wait before polling a shard again after a GetRecords call that "
                                    + "returned no records while the shard still has records "
                                    + "behind the iterator (millisBehindLatest > 0). At least "
                                    + "source.shard.get-records.interval.");

    public static final ConfigOption<Duration> CAUGHT_UP_FETCH_INTERVAL =
            ConfigOptions.key("source.reader.caught-up-fetch-interval")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(1))
                    .withDescription(
                            "Wait before polling a shard again after a GetRecords call that "
                                    + "returned no records and millisBehindLatest = 0 (the "
                                    + "reader is at the tip of the shard): the idle cadence. "
                                    + "The default keeps a caught-up job at 1 GetRecords call "
                                    + "per second per shard; records coming back return the "
                                    + "shard to source.shard.get-records.interval.");

    public static final ConfigOption<Integer> READER_MAX_CONCURRENT_FETCHES =
            ConfigOptions.key("source.reader.max-concurrent-fetches")
                    .intType()
                    .defaultValue(8)
                    .withDescription(
                            "Kinesis calls (GetShardIterator + GetRecords) one reader runs at "
                                    + "the same time, each for a different shard, so that a slow "
                                    + "or hung call holds up only its own shard. Also bounds the "
                                    + "GetRecords responses a reader holds in memory.");

    public static final ConfigOption<Duration> API_CALL_TIMEOUT =
            ConfigOptions.key("source.api-call.timeout")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(30))
                    .withDescription(
                            "Time limit of one Kinesis call of the source (ListShards page, "
                                    + "GetShardIterator, GetRecords) including the AWS SDK's "
                                    + "retries; past it the shard backs off and is retried.");

    public static final ConfigOption<Duration> API_CALL_ATTEMPT_TIMEOUT =
            ConfigOptions.key("source.api-call.attempt-timeout")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(10))
                    .withDescription(
                            "Time limit of one HTTP attempt of a Kinesis call; the AWS SDK "
                                    + "retries a timed-out attempt within source.api-call.timeout.");

    public static final ConfigOption<Integer> SHARD_GET_RECORDS_MAX =
            ConfigOptions.key("source.shard.get-records.max-record-count")
                    .intType()
                    .defaultValue(10000)
                    .withFallbackKeys("source.records.max-per-fetch")
                    .withDescription("GetRecords Limit: records per call, 1..10000.");
}
