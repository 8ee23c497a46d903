package com.ssmas.yield.connectors.kinesis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.ssmas.yield.connectors.RecordingMetricGroup;
import com.ssmas.yield.connectors.kinesis.KinesisConnectorOptions.InitialPosition;

import org.apache.flink.connector.base.source.reader.RecordsWithSplitIds;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsAddition;

import org.junit.jupiter.api.Test;

import software.amazon.awssdk.services.kinesis.model.ExpiredIteratorException;
import software.amazon.awssdk.services.kinesis.model.KinesisException;
import software.amazon.awssdk.services.kinesis.model.ProvisionedThroughputExceededException;
import software.amazon.awssdk.services.kinesis.model.Record;
import software.amazon.awssdk.services.kinesis.model.ResourceNotFoundException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The split reader against an in-memory stream: what it hands to Flink, in which order, and where
 * it asks Kinesis to resume. Real time passes (the reader paces GetRecords at 5 calls/s per shard
 * and backs off on throttling), so each test takes a fraction of a second.
 */
class KinesisShardSplitReaderTest {

    private static final String SHARD = "shardId-000000000000";
    private static final String OTHER_SHARD = "shardId-000000000001";
    private static final long FETCH_DEADLINE_MS = 5_000L;

    private final InMemoryKinesisStream stream = new InMemoryKinesisStream().addShard(SHARD);
    private final RecordingMetricGroup metrics = new RecordingMetricGroup();

    /** What the reader handed over so far. */
    private static final class Fetched {
        final List<String> sequenceNumbers = new ArrayList<>();
        final List<String> payloads = new ArrayList<>();
        final Set<String> finishedShards = new HashSet<>();
    }

    private final Fetched fetched = new Fetched();

    private KinesisShardSplitReader readerOf(int maxRecordsPerFetch, KinesisShardSplit... splits) {
        KinesisShardSplitReader reader =
                new KinesisShardSplitReader(
                        KinesisTestSettings.startingAt(InitialPosition.TRIM_HORIZON, maxRecordsPerFetch),
                        stream,
                        metrics);
        reader.handleSplitsChanges(new SplitsAddition<>(List.of(splits)));
        return reader;
    }

    private static KinesisShardSplit split(String shardId, StartingPosition start) {
        return new KinesisShardSplit(KinesisTestSettings.STREAM_ARN, shardId, List.of(), start, false);
    }

    /** Calls fetch() (as Flink's fetcher thread does) until {@code done} holds. */
    private void fetchUntil(KinesisShardSplitReader reader, Predicate<Fetched> done) throws IOException {
        long deadline = System.currentTimeMillis() + FETCH_DEADLINE_MS;
        while (!done.test(fetched)) {
            if (System.currentTimeMillis() > deadline) {
                fail("reader did not get there in " + FETCH_DEADLINE_MS + " ms; fetched "
                        + fetched.payloads + ", finished " + fetched.finishedShards);
            }
            RecordsWithSplitIds<Record> batch = reader.fetch();
            String shardId;
            while ((shardId = batch.nextSplit()) != null) {
                Record record;
                while ((record = batch.nextRecordFromSplit()) != null) {
                    fetched.sequenceNumbers.add(record.sequenceNumber());
                    fetched.payloads.add(record.data().asUtf8String());
                }
            }
            fetched.finishedShards.addAll(batch.finishedSplits());
        }
    }

    private static Predicate<Fetched> records(int count) {
        return f -> f.payloads.size() >= count;
    }

    @Test
    void recordsAreHandedOverInShardOrderWithTheirSequenceNumbers() throws IOException {
        List<String> written = stream.putRecords(SHARD, 5);
        KinesisShardSplitReader reader = readerOf(2, split(SHARD, StartingPosition.trimHorizon()));

        fetchUntil(reader, records(5));

        assertEquals(written, fetched.sequenceNumbers);
        assertEquals(List.of(SHARD + "#0", SHARD + "#1", SHARD + "#2", SHARD + "#3", SHARD + "#4"),
                fetched.payloads);
        assertEquals(List.of(SHARD + " TRIM_HORIZON"), stream.iteratorRequests());
        assertEquals(3, metrics.count("kinesis.getRecordsCalls"), "GetRecords Limit is 2");
        assertEquals(5, metrics.count("kinesis.recordsFetched"));
    }

    @Test
    void aRestoredSplitResumesAfterItsLastEmittedRecord() throws IOException {
        List<String> written = stream.putRecords(SHARD, 4);
        // the checkpoint was taken after the second record had been emitted
        KinesisShardSplitReader reader =
                readerOf(100, split(SHARD, StartingPosition.afterSequenceNumber(written.get(1))));

        fetchUntil(reader, records(2));

        assertEquals(written.subList(2, 4), fetched.sequenceNumbers);
        assertEquals(List.of(SHARD + " AFTER_SEQUENCE_NUMBER(" + written.get(1) + ")"),
                stream.iteratorRequests());
    }

    @Test
    void anExpiredIteratorIsRefreshedAfterTheLastFetchedRecord() throws IOException {
        List<String> written = stream.putRecords(SHARD, 4);
        KinesisShardSplitReader reader = readerOf(2, split(SHARD, StartingPosition.trimHorizon()));
        fetchUntil(reader, records(2));

        // e.g. the job was back-pressured for more than the iterator's 5 minutes
        stream.failNextGetRecords(SHARD, ExpiredIteratorException.builder().message("Iterator expired").build());
        fetchUntil(reader, records(4));

        assertEquals(written, fetched.sequenceNumbers, "nothing lost, nothing read twice");
        assertEquals(List.of(SHARD + " TRIM_HORIZON", SHARD + " AFTER_SEQUENCE_NUMBER(" + written.get(1) + ")"),
                stream.iteratorRequests());
    }

    @Test
    void aClosedShardFinishesItsSplitAfterItsLastRecord() throws IOException {
        List<String> written = stream.putRecords(SHARD, 3);
        stream.closeShard(SHARD);
        KinesisShardSplitReader reader = readerOf(2, split(SHARD, StartingPosition.trimHorizon()));

        fetchUntil(reader, f -> f.finishedShards.contains(SHARD));

        assertEquals(written, fetched.sequenceNumbers);
        assertEquals(0, reader.activeShards(), "a finished shard is no longer polled");
    }

    @Test
    void aShardThatNoLongerExistsIsFinishedInsteadOfFailingTheJob() throws IOException {
        KinesisShardSplitReader reader = readerOf(100, split("shardId-000000000099", StartingPosition.trimHorizon()));

        fetchUntil(reader, f -> f.finishedShards.contains("shardId-000000000099"));

        assertEquals(List.of(), fetched.payloads);
    }

    @Test
    void throttlingAndServerErrorsAreRetriedWithoutLosingOrRepeatingRecords() throws IOException {
        List<String> written = stream.putRecords(SHARD, 3);
        stream.failNextGetRecords(SHARD,
                ProvisionedThroughputExceededException.builder().message("Rate exceeded for shard").build());
        stream.failNextGetRecords(SHARD,
                KinesisException.builder().statusCode(503).message("Service Unavailable").build());
        KinesisShardSplitReader reader = readerOf(100, split(SHARD, StartingPosition.trimHorizon()));

        fetchUntil(reader, records(3));

        assertEquals(written, fetched.sequenceNumbers);
        assertEquals(1, metrics.count("kinesis.throttledRequests"), "a 503 is retried but is not throttling");
        assertEquals(3, metrics.count("kinesis.getRecordsCalls"));
    }

    @Test
    void aRequestKinesisRejectsFailsTheFetchNamingTheShard() {
        stream.putRecords(SHARD, 1);
        stream.failNextGetRecords(SHARD,
                KinesisException.builder().statusCode(400).message("bad request").build());
        KinesisShardSplitReader reader = readerOf(100, split(SHARD, StartingPosition.trimHorizon()));

        IOException failure = assertThrows(IOException.class, () -> fetchUntil(reader, records(1)));
        assertTrue(failure.getMessage().contains(SHARD), failure.getMessage());

        stream.failNextGetRecords(SHARD, ResourceNotFoundException.builder().message("deleted").build());
        failure = assertThrows(IOException.class, () -> fetchUntil(reader, records(1)));
        assertTrue(failure.getMessage().contains("not found"), failure.getMessage());
    }

    @Test
    void everyShardGetsItsTurn() throws IOException {
        stream.addShard(OTHER_SHARD);
        stream.putRecords(SHARD, 3);
        stream.putRecords(OTHER_SHARD, 3);
        KinesisShardSplitReader reader =
                readerOf(1,
                        split(SHARD, StartingPosition.trimHorizon()),
                        split(OTHER_SHARD, StartingPosition.trimHorizon()));

        fetchUntil(reader, records(2));

        assertEquals(List.of(SHARD + "#0", OTHER_SHARD + "#0"), fetched.payloads);
    }

    @Test
    void millisBehindLatestIsPublishedPerShard() throws IOException {
        stream.putRecords(SHARD, 3);
        KinesisShardSplitReader reader = readerOf(1, split(SHARD, StartingPosition.trimHorizon()));
        String gauge = "kinesis.shardId." + SHARD + ".millisBehindLatest";
        assertEquals(-1L, metrics.gaugeValue(gauge), "unknown before the first GetRecords");

        fetchUntil(reader, records(1));
        assertEquals(5_000L, metrics.gaugeValue(gauge));

        fetchUntil(reader, records(3));
        assertEquals(0L, metrics.gaugeValue(gauge));
    }

    @Test
    void closingTheReaderClosesItsKinesisClient() throws Exception {
        readerOf(1).close();
        assertTrue(stream.isClosed());
    }
}
