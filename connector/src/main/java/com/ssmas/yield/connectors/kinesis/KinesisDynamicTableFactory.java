package com.ssmas.yield.connectors.kinesis;

import com.ssmas.yield.connectors.AwsClientFactory;
import com.ssmas.yield.connectors.AwsConfigOptions;
import com.ssmas.yield.connectors.kinesis.KinesisConnectorOptions.InitialPosition;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableSourceFactory;
import org.apache.flink.table.factories.FactoryUtil;

import java.math.BigDecimal;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.HashSet;
import java.util.Set;

/**
 * {@code 'connector' = 'kinesis'}: a polling Kinesis Data Streams source with the option names of
 * the official flink-sql-connector-aws-kinesis-streams.
 */
public class KinesisDynamicTableFactory implements DynamicTableSourceFactory {

    public static final String IDENTIFIER = "kinesis";

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        Set<ConfigOption<?>> options = new HashSet<>();
        options.add(KinesisConnectorOptions.STREAM_ARN);
        options.add(AwsConfigOptions.AWS_REGION);
        options.add(FactoryUtil.FORMAT);
        return options;
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        Set<ConfigOption<?>> options = new HashSet<>(AwsConfigOptions.optionalClientOptions());
        options.add(KinesisConnectorOptions.STREAM_INITIAL_POSITION);
        options.add(KinesisConnectorOptions.STREAM_INITIAL_TIMESTAMP);
        options.add(KinesisConnectorOptions.STREAM_TIMESTAMP_DATE_FORMAT);
        options.add(KinesisConnectorOptions.SHARD_DISCOVERY_INTERVAL);
        options.add(KinesisConnectorOptions.EMPTY_RECORDS_FETCH_INTERVAL);
        options.add(KinesisConnectorOptions.SHARD_GET_RECORDS_MAX);
        options.add(KinesisConnectorOptions.SHARD_GET_RECORDS_INTERVAL);
        options.add(KinesisConnectorOptions.CAUGHT_UP_FETCH_INTERVAL);
        options.add(KinesisConnectorOptions.READER_MAX_CONCURRENT_FETCHES);
        options.add(KinesisConnectorOptions.API_CALL_TIMEOUT);
        options.add(KinesisConnectorOptions.API_CALL_ATTEMPT_TIMEOUT);
        return options;
    }

    @Override
    public DynamicTableSource createDynamicTableSource(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        DecodingFormat<DeserializationSchema<RowData>> format =
                helper.discoverDecodingFormat(DeserializationFormatFactory.class, FactoryUtil.FORMAT);
        helper.validate();
        ReadableConfig options = helper.getOptions();

        String arn = options.get(KinesisConnectorOptions.STREAM_ARN);
        if (!arn.startsWith("arn:") || !arn.contains(":stream/")) {
            throw new ValidationException(
                    "Invalid value for option 'stream.arn': '"
                            + arn
                            + "' (expected arn:aws:kinesis:<region>:<account>:stream/<name>).");
        }
        InitialPosition position = options.get(KinesisConnectorOptions.STREAM_INITIAL_POSITION);
        Long timestamp = null;
        if (position == InitialPosition.AT_TIMESTAMP) {
            String raw =
                    options.getOptional(KinesisConnectorOptions.STREAM_INITIAL_TIMESTAMP)
                            .orElseThrow(
                                    () ->
                                            new ValidationException(
                                                    "Option 'source.init.position' = "
                                                            + "'AT_TIMESTAMP' requires option "
                                                            + "'source.init.timestamp'."));
            timestamp =
                    parseTimestamp(
                            raw, options.get(KinesisConnectorOptions.STREAM_TIMESTAMP_DATE_FORMAT));
        }
        int maxRecords = options.get(KinesisConnectorOptions.SHARD_GET_RECORDS_MAX);
        if (maxRecords < 1 || maxRecords > 10000) {
            throw new ValidationException(
                    "Option 'source.shard.get-records.max-record-count' must be in 1..10000, got "
                            + maxRecords);
        }
        if (options.get(KinesisConnectorOptions.SHARD_DISCOVERY_INTERVAL).toMillis() < 1000) {
            throw new ValidationException(
                    "Option 'source.shard.discovery.interval' must be at least 1 s "
                            + "(ListShards is limited to 100 calls per second per account).");
        }
        Duration getRecordsInterval =
                options.get(KinesisConnectorOptions.SHARD_GET_RECORDS_INTERVAL);
        if (getRecordsInterval.toMillis() < KinesisSourceSettings.MIN_GET_RECORDS_INTERVAL_MS) {
            throw new ValidationException(
                    "Option 'source.shard.get-records.interval' must be at least 200 ms "
                            + "(Kinesis allows 5 GetRecords calls per second per shard), got "
                            + getRecordsInterval.toMillis()
                            + " ms.");
        }
        Duration caughtUpInterval = options.get(KinesisConnectorOptions.CAUGHT_UP_FETCH_INTERVAL);
        if (caughtUpInterval.compareTo(getRecordsInterval) < 0) {
            throw new ValidationException(
                    "Option 'source.reader.caught-up-fetch-interval' must not be shorter than "
                            + "'source.shard.get-records.interval'.");
        }
        int maxConcurrentFetches =
                options.get(KinesisConnectorOptions.READER_MAX_CONCURRENT_FETCHES);
        if (maxConcurrentFetches < 1 || maxConcurrentFetches > 100) {
            throw new ValidationException(
                    "Option 'source.reader.max-concurrent-fetches' must be in 1..100, got "
                            + maxConcurrentFetches);
        }
        Duration apiCallTimeout = options.get(KinesisConnectorOptions.API_CALL_TIMEOUT);
        Duration attemptTimeout = options.get(KinesisConnectorOptions.API_CALL_ATTEMPT_TIMEOUT);
        if (apiCallTimeout.toMillis() <= 0 || attemptTimeout.toMillis() <= 0) {
            throw new ValidationException(
                    "Options 'source.api-call.timeout' and 'source.api-call.attempt-timeout' "
                            + "must be positive.");
        }
        if (attemptTimeout.compareTo(apiCallTimeout) > 0) {
            throw new ValidationException(
                    "Option 'source.api-call.attempt-timeout' must not exceed "
                            + "'source.api-call.timeout'.");
        }
        KinesisSourceSettings settings =
                new KinesisSourceSettings(
                        arn,
                        AwsClientFactory.fromOptions(options),
                        position,
                        timestamp,
                        options.get(KinesisConnectorOptions.SHARD_DISCOVERY_INTERVAL),
                        getRecordsInterval,
                        options.get(KinesisConnectorOptions.EMPTY_RECORDS_FETCH_INTERVAL),
                        caughtUpInterval,
                        maxRecords,
                        maxConcurrentFetches,
                        apiCallTimeout,
                        attemptTimeout);
        return new KinesisDynamicSource(
                settings, format, context.getPhysicalRowDataType());
    }

    static long parseTimestamp(String raw, String pattern) {
        String value = raw.trim();
        try {
            return new BigDecimal(value).movePointRight(3).longValue();
        } catch (NumberFormatException ignored) {
            // not epoch seconds: parse with the pattern
        }
        try {
            DateTimeFormatter formatter = DateTimeFormatter.ofPattern(pattern);
            return ZonedDateTime.parse(value, formatter).toInstant().toEpochMilli();
        } catch (DateTimeParseException | IllegalArgumentException e) {
            try {
                return OffsetDateTime.parse(value).toInstant().toEpochMilli();
            } catch (DateTimeParseException e2) {
                throw new ValidationException(
                        "Invalid value for option 'source.init.timestamp': '"
                                + raw
                                + "' (expected epoch seconds or the pattern '"
                                + pattern
                                + "' of 'source.init.timestamp.format').",
                        e);
            }
        }
    }
}
