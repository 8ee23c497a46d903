package com.ssmas.yield.connectors.kinesis;

import com.ssmas.yield.connectors.AwsClientFactory;
import com.ssmas.yield.connectors.kinesis.KinesisConnectorOptions.InitialPosition;

import java.io.Serializable;
import java.time.Duration;
import java.util.Objects;

/** Immutable, serializable settings of one Kinesis source. */
public final class KinesisSourceSettings implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Kinesis allows 5 GetRecords calls per second per shard. */
    static final long MIN_GET_RECORDS_INTERVAL_MS = 200L;

    private final String streamArn;
    private final AwsClientFactory aws;
    private final InitialPosition initialPosition;
    private final Long initialTimestampMillis;
    private final long discoveryIntervalMs;
    private final long emptyRecordsFetchIntervalMs;
    private final int maxRecordsPerFetch;

    public KinesisSourceSettings(
            String streamArn,
            AwsClientFactory aws,
            InitialPosition initialPosition,
            Long initialTimestampMillis,
            Duration discoveryInterval,
            Duration emptyRecordsFetchInterval,
            int maxRecordsPerFetch) {
        this.streamArn = Objects.requireNonNull(streamArn);
        this.aws = Objects.requireNonNull(aws);
        this.initialPosition = Objects.requireNonNull(initialPosition);
        this.initialTimestampMillis = initialTimestampMillis;
        this.discoveryIntervalMs = discoveryInterval.toMillis();
        this.emptyRecordsFetchIntervalMs = emptyRecordsFetchInterval.toMillis();
        this.maxRecordsPerFetch = maxRecordsPerFetch;
    }

    public String getStreamArn() {
        return streamArn;
    }

    public AwsClientFactory getAws() {
        return aws;
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

    public long getEmptyRecordsFetchIntervalMs() {
        return emptyRecordsFetchIntervalMs;
    }

    public int getMaxRecordsPerFetch() {
        return maxRecordsPerFetch;
    }
}
