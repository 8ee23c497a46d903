package com.ssmas.yield.connectors.kinesis;

import com.ssmas.yield.connectors.AwsClientFactory;
import com.ssmas.yield.connectors.kinesis.KinesisConnectorOptions.InitialPosition;

import software.amazon.awssdk.services.kinesis.KinesisClient;

import java.io.Serializable;
import java.time.Duration;
import java.util.Objects;

/** Immutable, serializable settings of one Kinesis source. */
public final class KinesisSourceSettings implements Serializable {

    private static final long serialVersionUID = 2L;

    /** Kinesis allows 5 GetRecords calls per second per shard. */
    static final long MIN_GET_RECORDS_INTERVAL_MS = 200L;

    private final String streamArn;
    private final AwsClientFactory aws;
    private final InitialPosition initialPosition;
    private final Long initialTimestampMillis;
    private final long discoveryIntervalMs;
    private final long getRecordsIntervalMs;
    private final long emptyRecordsFetchIntervalMs;
    private final long caughtUpFetchIntervalMs;
    private final int maxRecordsPerFetch;
    private final int maxConcurrentFetches;
    private final Duration apiCallTimeout;
    private final Duration apiCallAttemptTimeout;

    /** With the defaults of the options this constructor does not take. */
    public KinesisSourceSettings(
            String streamArn,
            AwsClientFactory aws,
            InitialPosition initialPosition,
            Long initialTimestampMillis,
            Duration discoveryInterval,
            Duration emptyRecordsFetchInterval,
            int maxRecordsPerFetch) {
        this(
                streamArn,
                aws,
                initialPosition,
                initialTimestampMillis,
                discoveryInterval,
                KinesisConnectorOptions.SHARD_GET_RECORDS_INTERVAL.defaultValue(),
                emptyRecordsFetchInterval,
                KinesisConnectorOptions.CAUGHT_UP_FETCH_INTERVAL.defaultValue(),
                maxRecordsPerFetch,
                KinesisConnectorOptions.READER_MAX_CONCURRENT_FETCHES.defaultValue(),
                KinesisConnectorOptions.API_CALL_TIMEOUT.defaultValue(),
                KinesisConnectorOptions.API_CALL_ATTEMPT_TIMEOUT.defaultValue());
    }

    public KinesisSourceSettings(
            String streamArn,
            AwsClientFactory aws,
            InitialPosition initialPosition,
            Long initialTimestampMillis,
            Duration discoveryInterval,
            Duration getRecordsInterval,
            Duration emptyRecordsFetchInterval,
            Duration caughtUpFetchInterval,
            int maxRecordsPerFetch,
            int maxConcurrentFetches,
            Duration apiCallTimeout,
            Duration apiCallAttemptTimeout) {
        this.streamArn = Objects.requireNonNull(streamArn);
        this.aws = Objects.requireNonNull(aws);
        this.initialPosition = Objects.requireNonNull(initialPosition);
        this.initialTimestampMillis = initialTimestampMillis;
        this.discoveryIntervalMs = discoveryInterval.toMillis();
        this.getRecordsIntervalMs = getRecordsInterval.toMillis();
        this.emptyRecordsFetchIntervalMs = emptyRecordsFetchInterval.toMillis();
        this.caughtUpFetchIntervalMs = caughtUpFetchInterval.toMillis();
        this.maxRecordsPerFetch = maxRecordsPerFetch;
        this.maxConcurrentFetches = maxConcurrentFetches;
        this.apiCallTimeout = Objects.requireNonNull(apiCallTimeout);
        this.apiCallAttemptTimeout = Objects.requireNonNull(apiCallAttemptTimeout);
    }

    public String getStreamArn() {
        return streamArn;
    }

    public AwsClientFactory getAws() {
        return aws;
    }

    /** A Kinesis client with this source's call timeouts and room for {@code connections}. */
    public KinesisClient createKinesisClient(int connections) {
        return aws.createKinesisClient(connections, apiCallTimeout, apiCallAttemptTimeout);
    }

    public InitialPosition getInitialPosition() {
        return initialPosition;
    }

    public Long getInitialTimestampMillis() {
        return initialTimestampMillis;
    }

    public long getDiscoveryIntervalMs() {
        return discoveryIntervalMs;
    }

    /** Wait after a GetRecords call that returned records. */
    public long getGetRecordsIntervalMs() {
        return getRecordsIntervalMs;
    }

    /** Wait after an empty GetRecords call while the shard has records further on. */
    public long getEmptyRecordsFetchIntervalMs() {
        return emptyRecordsFetchIntervalMs;
    }

    /** Wait after an empty GetRecords call at the tip of the shard. */
    public long getCaughtUpFetchIntervalMs() {
        return caughtUpFetchIntervalMs;
    }

    public int getMaxRecordsPerFetch() {
        return maxRecordsPerFetch;
    }

    public int getMaxConcurrentFetches() {
        return maxConcurrentFetches;
    }

    public Duration getApiCallTimeout() {
        return apiCallTimeout;
    }

    public Duration getApiCallAttemptTimeout() {
        return apiCallAttemptTimeout;
    }
}
