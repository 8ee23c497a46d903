package com.ssmas.yield.connectors.kinesis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.CatalogTable;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ObjectIdentifier;
import org.apache.flink.table.catalog.ResolvedCatalogTable;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.factories.FactoryUtil;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * The {@code 'connector' = 'kinesis'} options as the job's DDL writes them: the options the job
 * passes (flink_jobs/pipeline.py kinesis_source_options) still plan, the pacing, concurrency and
 * timeout options have their documented defaults, and bad values fail at planning naming the
 * option.
 */
class KinesisDynamicTableFactoryTest {

    /** What the job passes against kinesis-local (endpoint, self-signed TLS, static keys). */
    private static Map<String, String> jobOptions() {
        Map<String, String> options = new HashMap<>();
        options.put("connector", "kinesis");
        options.put("stream.arn", KinesisTestSettings.STREAM_ARN);
        options.put("aws.region", "eu-west-1");
        options.put("source.init.position", "TRIM_HORIZON");
        options.put("format", "raw");
        options.put("aws.endpoint", "https://127.0.0.1:4567");
        options.put("aws.trust.all.certificates", "true");
        options.put("aws.credentials.provider", "BASIC");
        options.put("aws.credentials.basic.accesskeyid", "test");
        options.put("aws.credentials.basic.secretkey", "test");
        return options;
    }

    private static KinesisSourceSettings plan(Map<String, String> options) {
        ResolvedSchema schema = ResolvedSchema.of(Column.physical("payload", DataTypes.STRING()));
        CatalogTable table =
                CatalogTable.newBuilder()
                        .schema(Schema.newBuilder().fromResolvedSchema(schema).build())
                        .options(options)
                        .build();
        KinesisDynamicSource source =
                (KinesisDynamicSource)
                        FactoryUtil.createDynamicTableSource(
                                null,
                                ObjectIdentifier.of("default_catalog", "default_database", "auction_stream"),
                                new ResolvedCatalogTable(table, schema),
                                Map.of(),
                                new Configuration(),
                                KinesisDynamicTableFactoryTest.class.getClassLoader(),
                                false);
        return source.settings();
    }

    private static ValidationException refused(String key, String value) {
        Map<String, String> options = jobOptions();
        options.put(key, value);
        return assertThrows(ValidationException.class, () -> plan(options));
    }

    @Test
    void theJobsOptionsPlanAndTheNewOptionsHaveTheirDefaults() {
        KinesisSourceSettings settings = plan(jobOptions());

        assertEquals(200L, settings.getGetRecordsIntervalMs());
        assertEquals(200L, settings.getEmptyRecordsFetchIntervalMs());
        assertEquals(1_000L, settings.getCaughtUpFetchIntervalMs());
        assertEquals(8, settings.getMaxConcurrentFetches());
        assertEquals(Duration.ofSeconds(30), settings.getApiCallTimeout());
        assertEquals(Duration.ofSeconds(10), settings.getApiCallAttemptTimeout());
        assertEquals(10_000, settings.getMaxRecordsPerFetch());
    }

    @Test
    void everyNewOptionIsRead() {
        Map<String, String> options = jobOptions();
        options.put("source.shard.get-records.interval", "250 ms");
        options.put("source.reader.empty-records-fetch-interval", "300 ms");
        options.put("source.reader.caught-up-fetch-interval", "2 s");
        options.put("source.reader.max-concurrent-fetches", "4");
        options.put("source.api-call.timeout", "20 s");
        options.put("source.api-call.attempt-timeout", "5 s");

        KinesisSourceSettings settings = plan(options);

        assertEquals(250L, settings.getGetRecordsIntervalMs());
        assertEquals(300L, settings.getEmptyRecordsFetchIntervalMs());
        assertEquals(2_000L, settings.getCaughtUpFetchIntervalMs());
        assertEquals(4, settings.getMaxConcurrentFetches());
        assertEquals(Duration.ofSeconds(20), settings.getApiCallTimeout());
        assertEquals(Duration.ofSeconds(5), settings.getApiCallAttemptTimeout());
    }

    @Test
    void valuesThatBreakKinesisLimitsOrEachOtherFailNamingTheOption() {
        ValidationException e = refused("source.shard.get-records.interval", "100 ms");
        assertTrue(e.getMessage().contains("'source.shard.get-records.interval'"), e.getMessage());

        e = refused("source.reader.caught-up-fetch-interval", "100 ms");
        assertTrue(e.getMessage().contains("'source.reader.caught-up-fetch-interval'"), e.getMessage());

        e = refused("source.reader.max-concurrent-fetches", "0");
        assertTrue(e.getMessage().contains("'source.reader.max-concurrent-fetches'"), e.getMessage());

        e = refused("source.api-call.attempt-timeout", "60 s");
        assertTrue(e.getMessage().contains("'source.api-call.attempt-timeout'"), e.getMessage());
    }
}
