package com.ssmas.yield.connectors.kinesis;

import com.ssmas.yield.connectors.AwsClientFactory;
import com.ssmas.yield.connectors.AwsConfigOptions.CredentialsProviderType;
import com.ssmas.yield.connectors.kinesis.KinesisConnectorOptions.InitialPosition;

import java.time.Duration;

/** Source settings for tests; no AWS client is ever built from them (the proxy is a fake). */
final class KinesisTestSettings {

    static final String STREAM_ARN = "arn:aws:kinesis:eu-west-1:000000000000:stream/auctions";

    private KinesisTestSettings() {}

    static AwsClientFactory aws() {
        return new AwsClientFactory(
                "eu-west-1", null, false, CredentialsProviderType.AUTO, null, null, null);
    }

    /** Every other option at its default. */
    static KinesisSourceSettings startingAt(InitialPosition position, int maxRecordsPerFetch) {
        return new KinesisSourceSettings(
                STREAM_ARN,
                aws(),
                position,
                position == InitialPosition.AT_TIMESTAMP ? 1_714_557_600_000L : null,
                Duration.ofSeconds(10),
                Duration.ofMillis(200),
                maxRecordsPerFetch);
    }

    /** TRIM_HORIZON with the given cadences and concurrency; the rest at the defaults. */
    static KinesisSourceSettings polling(
            int maxRecordsPerFetch,
            Duration getRecordsInterval,
            Duration emptyRecordsInterval,
            Duration caughtUpInterval,
            int maxConcurrentFetches) {
        return new KinesisSourceSettings(
                STREAM_ARN,
                aws(),
                InitialPosition.TRIM_HORIZON,
                null,
                Duration.ofSeconds(10),
                getRecordsInterval,
                emptyRecordsInterval,
                caughtUpInterval,
                maxRecordsPerFetch,
                maxConcurrentFetches,
                Duration.ofSeconds(30),
                Duration.ofSeconds(10));
    }
}
