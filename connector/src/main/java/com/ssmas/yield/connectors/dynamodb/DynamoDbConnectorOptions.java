package com.ssmas.yield.connectors.dynamodb;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.connector.base.table.AsyncSinkConnectorOptions;

/**
 * Options of the {@code 'connector' = 'dynamodb'} table sink (names as the official connector;
 * the {@code sink.*} buffering options are flink-connector-base's {@link AsyncSinkConnectorOptions}).
 */
public final class DynamoDbConnectorOptions {

    private DynamoDbConnectorOptions() {}

    public static final ConfigOption<String> TABLE_NAME =
            ConfigOptions.key("table-name")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("Name of the DynamoDB table to write.");

    public static final ConfigOption<Boolean> FAIL_ON_ERROR =
            ConfigOptions.key("fail-on-error")
                    .booleanType()
                    .defaultValue(false)
                    .withDescription(
                            "true: any failed write fails the job. false (default): retryable "
                                    + "failures (throttling, 5xx, network) are retried with backoff; "
                                    + "errors no retry can fix (missing table, validation, "
                                    + "permissions) still fail the job.");

    public static final ConfigOption<String> CONDITIONAL_WRITE_ATTRIBUTE =
            ConfigOptions.key("sink.conditional-write.attribute")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Ordering attribute (a non-key column). When set, every put is a "
                                    + "PutItem written only if the stored item is absent or its "
                                    + "value of this attribute is older or equal, so a replay "
                                    + "never replaces a newer item by an older one. Strings "
                                    + "compare as text (ISO-8601 UTC times in time order), "
                                    + "numbers as numbers. Unset: unconditional BatchWriteItem.");

    public static final ConfigOption<Integer> MAX_BATCH_SIZE = AsyncSinkConnectorOptions.MAX_BATCH_SIZE;
    public static final ConfigOption<Integer> MAX_IN_FLIGHT_REQUESTS =
            AsyncSinkConnectorOptions.MAX_IN_FLIGHT_REQUESTS;
    public static final ConfigOption<Integer> MAX_BUFFERED_REQUESTS =
            AsyncSinkConnectorOptions.MAX_BUFFERED_REQUESTS;
    public static final ConfigOption<Long> FLUSH_BUFFER_SIZE = AsyncSinkConnectorOptions.FLUSH_BUFFER_SIZE;
    public static final ConfigOption<Long> FLUSH_BUFFER_TIMEOUT =
            AsyncSinkConnectorOptions.FLUSH_BUFFER_TIMEOUT;

    /** BatchWriteItem takes at most 25 requests. */
    public static final int DEFAULT_MAX_BATCH_SIZE = 25;
    public static final int DEFAULT_MAX_IN_FLIGHT_REQUESTS = 50;
    public static final int DEFAULT_MAX_BUFFERED_REQUESTS = 10_000;
    /** BatchWriteItem request limit: 16 MB. */
    public static final long DEFAULT_MAX_BATCH_SIZE_IN_BYTES = 16L * 1024 * 1024;
    public static final long DEFAULT_MAX_TIME_IN_BUFFER_MS = 5_000L;
    /** DynamoDB item limit: 400 KB. */
    public static final long MAX_RECORD_SIZE_IN_BYTES = 400L * 1024;
}
