package com.ssmas.yield.connectors.kinesis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.ssmas.yield.connectors.RecordingMetricGroup;
import com.ssmas.yield.connectors.kinesis.KinesisConnectorOptions.InitialPosition;

import org.apache.flink.connector.base.source.reader.RecordsWithSplitIds;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsAddition;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import software.amazon.awssdk.services.kinesis.model.ExpiredIteratorException;
import software.amazon.awssdk.services.kinesis.model.KinesisException;
import software.amazon.awssdk.services.kinesis.model.ProvisionedThroughputExceededException;
import software.amazon.awssdk.services.kinesis.model.Record;
import software.amazon.awssdk.services.kinesis.model.ResourceNotFoundException;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Predicate;

/**
 * The split reader against an in-memory stream: what it hands to Flink, in which order, where it
 * asks Kinesis to resume, how often it calls GetRecords, and that one slow shard does not hold up
 * the others. Most tests run the Kinesis calls in the fetcher thread on a simulated clock (no
 * sleeping, deterministic order); the isolation tests use a real pool and real time.
 */
class KinesisShardSplitReaderTest {

    private static final String SHARD = "shardId-000000000000";
    private static final String OTHER_SHARD = "shardId-000000000001";
    private static final String THIRD_SHARD = "shardId-000000000002";
    /** Simulated time a test may take before it is declared stuck. */
    private static final long SIMULATED_DEADLINE_MS = 10 * 60_000L;
    private static final long REAL_DEADLINE_MS = 5_000L;

    private final InMemoryKinesisStream stream = new InMemoryKinesisStream().addShard(SHARD);
    private final RecordingMetricGroup metrics = new RecordingMetricGroup();
    /** Registered once per source reader, as KinesisSource does. */
    private final KinesisReaderMetrics readerMetrics = new KinesisReaderMetrics(metrics);
    private final SimulatedFetchClock clock = new SimulatedFetchClock();
    private final List<KinesisShardSplitReader> readers = new ArrayList<>();

    /** What the reader handed over so far. */
    private static final class Fetched {
        final List<String> sequenceNumbers = new ArrayList<>();
        final List<String> payloads = new ArrayList<>();
        final Map<String, Integer> perShard = new HashMap<>();
        final Set<String> finishedShards = new HashSet<>();

        int of(String shardId) {
            return perShard.getOrDefault(shardId, 0);
        }
    }

    private final Fetched fetched = new Fetched();

    @AfterEach
    void closeReaders() {
        readers.forEach(KinesisShardSplitReader::close);
    }

    /** Calls run in the fetcher thread, on the simulated clock. */
    private KinesisShardSplitReader simulated(KinesisSourceSettings settings, KinesisShardSplit... splits) {
        stream.timeCallsWith(clock::nowMillis);
        KinesisShardSplitReader reader =
                new KinesisShardSplitReader(settings, stream, readerMetrics, clock, Runnable::run);
        reader.handleSplitsChanges(new SplitsAddition<>(List.of(splits)));
        readers.add(reader);
        return reader;
    }

    private KinesisShardSplitReader readerOf(int maxRecordsPerFetch, KinesisShardSplit... splits) {
        return simulated(
                KinesisTestSettings.startingAt(InitialPosition.TRIM_HORIZON, maxRecordsPerFetch), splits);
    }

    /** Calls on a real pool of {@code threads}, in real time. */
    private KinesisShardSplitReader pooled(int threads, int maxRecordsPerFetch, KinesisShardSplit... splits) {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        KinesisShardSplitReader reader =
                new KinesisShardSplitReader(
                        KinesisTestSettings.polling(
                                maxRecordsPerFetch,
                                Duration.ofMillis(200),
                                Duration.ofMillis(200),
                                Duration.ofMillis(200),
                                threads),
                        stream,
                        readerMetrics,
                        FetchClock.SYSTEM,
                        pool);
        reader.handleSplitsChanges(new SplitsAddition<>(List.of(splits)));
        readers.add(reader);
        return reader;
    }

    private static KinesisShardSplit split(String shardId, StartingPosition start) {
        return new KinesisShardSplit(KinesisTestSettings.STREAM_ARN, shardId, List.of(), start, false);
    }

    private static KinesisShardSplit fromStart(String shardId) {
        return split(shardId, StartingPosition.trimHorizon());
    }

    /** One fetch() (as Flink's fetcher thread does), collecting what it hands over. */
    private void fetchOnce(KinesisShardSplitReader reader) throws IOException {
        RecordsWithSplitIds<Record> batch = reader.fetch();
        String shardId;
        while ((shardId = batch.nextSplit()) != null) {
            Record record;
            while ((record = batch.nextRecordFromSplit()) != null) {
                fetched.sequenceNumbers.add(record.sequenceNumber());
                fetched.payloads.add(record.data().asUtf8String());
                fetched.perShard.merge(shardId, 1, Integer::sum);
            }
        }
        fetched.finishedShards.addAll(batch.finishedSplits());
    }

    /** Fetches until {@code done} holds (simulated or real time, whichever the reader runs on). */
    private void fetchUntil(KinesisShardSplitReader reader, Predicate<Fetched> done) throws IOException {
        long simulatedDeadline = clock.nowMillis() + SIMULATED_DEADLINE_MS;
        long realDeadline = System.currentTimeMillis() + REAL_DEADLINE_MS;
        while (!done.test(fetched)) {
            if (clock.nowMillis() > simulatedDeadline || System.currentTimeMillis() > realDeadline) {
                fail("reader did not get there; fetched " + fetched.payloads
                        + ", finished " + fetched.finishedShards);
            }
            fetchOnce(reader);
        }
    }

    /** Fetches for {@code millis} of simulated time. */
    private void runFor(KinesisShardSplitReader reader, long millis) throws IOException {
        long until = clock.nowMillis() + millis;
        while (clock.nowMillis() < until) {
            fetchOnce(reader);
        }
    }

    private static Predicate<Fetched> records(int count) {
        return f -> f.payloads.size() >= count;
    }

    /** Milliseconds between consecutive GetRecords calls on the shard. */
    private List<Long> gaps(String shardId) {
        List<Long> times = stream.callTimes(shardId);
        List<Long> gaps = new ArrayList<>();
        for (int i = 1; i < times.size(); i++) {
            gaps.add(times.get(i) - times.get(i - 1));
        }
        return gaps;
    }

    // ------------------------------------------------------------------ positions and order

    @Test
    void recordsAreHandedOverInShardOrderWithTheirSequenceNumbers() throws IOException {
        List<String> written = stream.putRecords(SHARD, 5);
        KinesisShardSplitReader reader = readerOf(2, fromStart(SHARD));

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
        KinesisShardSplitReader reader = readerOf(2, fromStart(SHARD));
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
        KinesisShardSplitReader reader = readerOf(2, fromStart(SHARD));

        fetchUntil(reader, f -> f.finishedShards.contains(SHARD));

        assertEquals(written, fetched.sequenceNumbers);
        assertEquals(0, reader.activeShards(), "a finished shard is no longer polled");
    }

    @Test
    void aShardThatNoLongerExistsIsFinishedInsteadOfFailingTheJob() throws IOException {
        KinesisShardSplitReader reader = readerOf(100, fromStart("shardId-000000000099"));

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
        KinesisShardSplitReader reader = readerOf(100, fromStart(SHARD));

        fetchUntil(reader, records(3));

        assertEquals(written, fetched.sequenceNumbers);
        assertEquals(1, metrics.count("kinesis.throttledRequests"), "a 503 is retried but is not throttling");
        assertEquals(3, metrics.count("kinesis.getRecordsCalls"));
        List<Long> gaps = gaps(SHARD);
        assertTrue(gaps.get(0) >= 100 && gaps.get(1) >= 200,
                "each failure backs the shard off (200 ms, then 400 ms, with jitter down to half): " + gaps);
    }

    @Test
    void aRequestKinesisRejectsFailsTheFetchNamingTheShard() {
        stream.putRecords(SHARD, 1);
        stream.failNextGetRecords(SHARD,
                KinesisException.builder().statusCode(400).message("bad request").build());
        KinesisShardSplitReader reader = readerOf(100, fromStart(SHARD));

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
        KinesisShardSplitReader reader = readerOf(1, fromStart(SHARD), fromStart(OTHER_SHARD));

        fetchUntil(reader, records(2));

        assertEquals(List.of(SHARD + "#0", OTHER_SHARD + "#0"), fetched.payloads);
    }

    // ------------------------------------------------------------------ cadence

    @Test
    void aCaughtUpShardIsPolledOncePerSecond() throws IOException {
        List<String> shards = new ArrayList<>();
        List<KinesisShardSplit> splits = new ArrayList<>();
        for (int i = 1; i <= 10; i++) {
            String id = String.format("shardId-%012d", i);
            stream.addShard(id);
            shards.add(id);
            splits.add(fromStart(id));
        }
        KinesisShardSplitReader reader = readerOf(10_000, splits.toArray(new KinesisShardSplit[0]));

        runFor(reader, 60_000L);

        for (String id : shards) {
            int calls = stream.getRecordsCalls(id);
            assertTrue(calls >= 59 && calls <= 61,
                    id + ": a caught-up shard costs 1 GetRecords call per second, got " + calls + " in 60 s");
            assertTrue(gaps(id).stream().allMatch(g -> g >= 1_000L), id + " " + gaps(id));
        }
        assertEquals(0L, metrics.gaugeValue("kinesisanalytics.maxMillisBehindLatest"));
    }

    @Test
    void recordsBringTheShardBackToTheFastCadenceAndItSlowsDownAgainWhenCaughtUp() throws IOException {
        KinesisShardSplitReader reader = readerOf(2, fromStart(SHARD));
        runFor(reader, 5_000L);
        int idleCalls = stream.getRecordsCalls(SHARD);
        assertTrue(idleCalls <= 6, "idle: " + gaps(SHARD));

        long written = clock.nowMillis();
        stream.putRecords(SHARD, 20); // 10 calls of 2 records
        fetchUntil(reader, records(20));
        List<Long> callTimes = stream.callTimes(SHARD);
        long firstRecordsCall = callTimes.get(idleCalls);
        assertTrue(firstRecordsCall - written <= 1_000L,
                "new records wait at most one caught-up interval");
        List<Long> busyGaps = gaps(SHARD).subList(idleCalls, idleCalls + 9);
        assertEquals(List.of(200L, 200L, 200L, 200L, 200L, 200L, 200L, 200L, 200L), busyGaps,
                "while records come back: 5 calls per second, the most Kinesis allows");

        runFor(reader, 10_000L);
        List<Long> all = gaps(SHARD);
        List<Long> after = all.subList(idleCalls + 10, all.size());
        assertFalse(after.isEmpty());
        assertEquals(Set.of(1_000L), new HashSet<>(after), "caught up again: back to 1 call per second");
    }

    @Test
    void anEmptyPageBeforeTheTipIsFollowedUpAtTheEmptyRecordsInterval() throws IOException {
        stream.putRecords(SHARD, 2);
        stream.emptyPageNext(SHARD, 4_000L); // Kinesis: no records in this page, but more behind it
        KinesisShardSplitReader reader =
                simulated(
                        KinesisTestSettings.polling(
                                1, Duration.ofMillis(300), Duration.ofMillis(500), Duration.ofSeconds(2), 8),
                        fromStart(SHARD));

        fetchUntil(reader, records(2));
        runFor(reader, 5_000L);

        List<Long> gaps = gaps(SHARD);
        assertEquals(List.of(500L, 300L, 300L, 2_000L, 2_000L), gaps.subList(0, 5),
                "empty but behind -> 500 ms; records -> 300 ms; empty at the tip -> 2 s");
    }

    @Test
    void theCaughtUpIntervalIsNeverShorterThanTheEmptyRecordsInterval() throws IOException {
        // a job that slowed its empty polls to 3 s before the caught-up cadence existed keeps 3 s
        KinesisShardSplitReader reader =
                simulated(
                        KinesisTestSettings.polling(
                                10, Duration.ofMillis(200), Duration.ofSeconds(3), Duration.ofSeconds(1), 8),
                        fromStart(SHARD));

        runFor(reader, 30_000L);

        assertEquals(Set.of(3_000L), new HashSet<>(gaps(SHARD)));
    }

    // ------------------------------------------------------------------ isolation

    @Test
    void aHungShardDoesNotStopTheOtherShards() throws IOException {
        stream.addShard(OTHER_SHARD).addShard(THIRD_SHARD);
        stream.putRecords(SHARD, 3);
        stream.putRecords(OTHER_SHARD, 3);
        stream.putRecords(THIRD_SHARD, 3);
        stream.block(SHARD); // its GetRecords hangs, as on a dead connection before the timeout
        KinesisShardSplitReader reader =
                pooled(4, 1, fromStart(SHARD), fromStart(OTHER_SHARD), fromStart(THIRD_SHARD));

        fetchUntil(reader, f -> f.of(OTHER_SHARD) == 3 && f.of(THIRD_SHARD) == 3);

        assertEquals(0, fetched.of(SHARD));
        assertEquals(1, stream.getRecordsCalls(SHARD), "one call per shard at a time");

        stream.release(SHARD);
        fetchUntil(reader, f -> f.of(SHARD) == 3);
        assertEquals(List.of(SHARD + "#0", SHARD + "#1", SHARD + "#2"),
                fetched.payloads.stream().filter(p -> p.startsWith(SHARD)).collect(java.util.stream.Collectors.toList()));
    }

    @Test
    void aThrottledShardBacksOffAloneWhileTheOthersKeepTheirCadence() throws IOException {
        stream.addShard(OTHER_SHARD);
        for (int i = 0; i < 6; i++) {
            stream.failNextGetRecords(SHARD,
                    ProvisionedThroughputExceededException.builder().message("Rate exceeded").build());
        }
        stream.putRecords(SHARD, 1);
        stream.putRecords(OTHER_SHARD, 20);
        KinesisShardSplitReader reader = readerOf(1, fromStart(SHARD), fromStart(OTHER_SHARD));

        fetchUntil(reader, f -> f.of(OTHER_SHARD) == 20);

        assertEquals(Set.of(200L), new HashSet<>(gaps(OTHER_SHARD).subList(0, 19)),
                "the other shard is read at its own cadence");
        assertEquals(0, fetched.of(SHARD), "still backing off");
        fetchUntil(reader, f -> f.of(SHARD) == 1);
        assertEquals(6, metrics.count("kinesis.throttledRequests"));
    }

    @Test
    void noMoreCallsThanTheConcurrencyLimitAreInFlight() throws IOException {
        List<KinesisShardSplit> splits = new ArrayList<>();
        for (int i = 1; i <= 5; i++) {
            String id = String.format("shardId-%012d", i);
            stream.addShard(id);
            stream.putRecords(id, 1);
            stream.block(id);
            splits.add(fromStart(id));
        }
        KinesisShardSplitReader reader = pooled(2, 10, splits.toArray(new KinesisShardSplit[0]));

        long until = System.currentTimeMillis() + 500L;
        while (System.currentTimeMillis() < until) {
            fetchOnce(reader);
            assertTrue(reader.callsOutstanding() <= 2);
        }
        int started = 0;
        for (int i = 1; i <= 5; i++) {
            started += stream.getRecordsCalls(String.format("shardId-%012d", i));
        }
        assertEquals(2, started, "a reader holds at most max-concurrent-fetches responses");
        for (int i = 1; i <= 5; i++) {
            stream.release(String.format("shardId-%012d", i));
        }
        fetchUntil(reader, records(5));
    }

    // ------------------------------------------------------------------ lag metrics

    @Test
    void millisBehindLatestIsPublishedPerShardAndAsTheReadersMaximum() throws IOException {
        stream.addShard(OTHER_SHARD);
        stream.putRecords(SHARD, 3);
        KinesisShardSplitReader reader = readerOf(1, fromStart(SHARD), fromStart(OTHER_SHARD));
        String shardGauge = "kinesisanalytics.shardId." + SHARD + ".millisBehindLatest";
        String otherGauge = "kinesisanalytics.shardId." + OTHER_SHARD + ".millisBehindLatest";
        String maxGauge = "kinesisanalytics.maxMillisBehindLatest";
        assertEquals(-1L, metrics.gaugeValue(shardGauge), "unknown before the first GetRecords");
        assertEquals(-1L, metrics.gaugeValue(maxGauge));

        fetchUntil(reader, records(1));
        assertEquals(5_000L, metrics.gaugeValue(shardGauge), "2 records behind");
        assertEquals(0L, metrics.gaugeValue(otherGauge), "empty shard: at the tip");
        assertEquals(5_000L, metrics.gaugeValue(maxGauge), "the slowest shard of the reader");

        fetchUntil(reader, records(3));
        assertEquals(0L, metrics.gaugeValue(shardGauge));
        assertEquals(0L, metrics.gaugeValue(maxGauge));
    }

    @Test
    void aFinishedShardLeavesTheReadersMaximum() throws IOException {
        stream.addShard(OTHER_SHARD);
        stream.putRecords(SHARD, 2);
        stream.putRecords(OTHER_SHARD, 2);
        stream.closeShard(SHARD);
        KinesisShardSplitReader reader = readerOf(1, fromStart(SHARD), fromStart(OTHER_SHARD));

        fetchUntil(reader, f -> f.finishedShards.contains(SHARD));

        assertEquals(-1L, metrics.gaugeValue("kinesisanalytics.shardId." + SHARD + ".millisBehindLatest"),
                "no longer read by this reader");
        assertEquals(0L, metrics.gaugeValue("kinesisanalytics.maxMillisBehindLatest"));
    }

    @Test
    void aSplitReaderCreatedLaterForTheSameSourceReaderPublishesUnderTheSameGauges() throws IOException {
        // Flink shuts down a fetcher left without shards and creates a new split reader for the
        // next shard; the gauges, registered once per source reader, follow the new one
        stream.addShard(OTHER_SHARD);
        stream.putRecords(SHARD, 1);
        stream.closeShard(SHARD);
        KinesisShardSplitReader first = readerOf(1, fromStart(SHARD));
        fetchUntil(first, f -> f.finishedShards.contains(SHARD));
        first.close();

        stream.putRecords(OTHER_SHARD, 2);
        KinesisShardSplitReader second = readerOf(1, fromStart(OTHER_SHARD));
        fetchUntil(second, f -> f.of(OTHER_SHARD) == 1);

        assertEquals(5_000L, metrics.gaugeValue("kinesisanalytics.shardId." + OTHER_SHARD + ".millisBehindLatest"),
                "after its first record, one more behind it");
        assertEquals(5_000L, metrics.gaugeValue("kinesisanalytics.maxMillisBehindLatest"));
        assertEquals(2, metrics.count("kinesis.getRecordsCalls"), "one call each, counted in one counter");
    }

    @Test
    void closingTheReaderClosesItsKinesisClient() throws Exception {
        readerOf(1).close();
        assertTrue(stream.isClosed());
    }
}
