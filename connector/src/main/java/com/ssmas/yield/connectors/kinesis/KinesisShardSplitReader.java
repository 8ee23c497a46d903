package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.connector.base.source.reader.RecordsBySplits;
import org.apache.flink.connector.base.source.reader.RecordsWithSplitIds;
import org.apache.flink.connector.base.source.reader.splitreader.SplitReader;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsAddition;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsChange;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsRemoval;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.kinesis.model.ExpiredIteratorException;
import software.amazon.awssdk.services.kinesis.model.GetRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.KinesisException;
import software.amazon.awssdk.services.kinesis.model.KmsThrottlingException;
import software.amazon.awssdk.services.kinesis.model.LimitExceededException;
import software.amazon.awssdk.services.kinesis.model.ProvisionedThroughputExceededException;
import software.amazon.awssdk.services.kinesis.model.Record;
import software.amazon.awssdk.services.kinesis.model.ResourceNotFoundException;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Polls the shards assigned to one reader. Each shard has its own due time; the Kinesis calls
 * (GetShardIterator when needed, then GetRecords) of the shards that are due run on a small pool,
 * at most {@code source.reader.max-concurrent-fetches} at once and one per shard, so a slow,
 * hung or throttled shard holds up only itself. {@link #fetch()} (Flink's single fetcher thread)
 * starts the calls, hands over whatever calls finished, and owns all the shards' positions:
 * pool threads only talk to Kinesis.
 *
 * <p>Pacing per shard: after records, {@code source.shard.get-records.interval} (200 ms: at most
 * the 5 calls/s Kinesis allows); after an empty response with records still ahead ({@code
 * millisBehindLatest > 0}), {@code source.reader.empty-records-fetch-interval}; after an empty
 * response at the tip ({@code millisBehindLatest == 0}), {@code
 * source.reader.caught-up-fetch-interval} (1 s), so an idle stream costs 1 call/s per shard.
 * Handles shard end, expired iterators (re-acquired after the last fetched sequence number) and
 * throttling (per-shard exponential backoff). Talks to Kinesis through a {@link
 * KinesisShardProxy}.
 */
public class KinesisShardSplitReader implements SplitReader<Record, KinesisShardSplit> {

    private static final Logger LOG = LoggerFactory.getLogger(KinesisShardSplitReader.class);

    private static final long MAX_BACKOFF_MS = 10_000L;
    private static final long BASE_BACKOFF_MS = 200L;
    /** Longest single wait in fetch(); bounds the effect of any missed signal. */
    private static final long MAX_WAIT_MS = 100L;

    private final KinesisSourceSettings settings;
    private final KinesisShardProxy kinesis;
    private final FetchClock clock;
    private final Executor calls;
    private final int maxConcurrentFetches;
    private final long recordsIntervalMs;
    private final long emptyIntervalMs;
    private final long caughtUpIntervalMs;

    private final KinesisReaderMetrics metrics;

    /** Round-robin order of the active shards (fetcher thread only). */
    private final Deque<ShardCursor> cursors = new ArrayDeque<>();
    /** Active shards by id (fetcher thread only). */
    private final Map<String, ShardCursor> byId = new HashMap<>();

    /** Finished calls and wake-ups, handed from the pool (and wakeUp()) to the fetcher thread. */
    private final BlockingQueue<CallOutcome> outcomes = new LinkedBlockingQueue<>();
    private static final CallOutcome WAKE_UP = new CallOutcome(null);
    /** Calls started whose outcome the fetcher thread has not handled yet. */
    private int callsOutstanding;

    /** Fetch position and pacing of one shard (fetcher thread only). */
    private static final class ShardCursor {
        final KinesisShardSplit split;
        String iterator;
        String lastFetchedSequenceNumber;
        long nextPollAtMs;
        int failures;
        boolean inFlight;

        ShardCursor(KinesisShardSplit split) {
            this.split = split;
            StartingPosition pos = split.getStartingPosition();
            if (pos.getType() == StartingPosition.Type.AFTER_SEQUENCE_NUMBER) {
                lastFetchedSequenceNumber = pos.getSequenceNumber();
            }
        }

        String shardId() {
            return split.getShardId();
        }
    }

    /** What one call for one shard came back with (built on a pool thread). */
    private static final class CallOutcome {
        final ShardCursor cursor;
        /** The iterator the GetRecords call used (acquired by this call, or the cursor's). */
        String iterator;
        boolean shardGone;
        boolean getRecordsCalled;
        GetRecordsResponse response;
        Throwable failure;

        CallOutcome(ShardCursor cursor) {
            this.cursor = cursor;
        }
    }

    public KinesisShardSplitReader(KinesisSourceSettings settings, KinesisReaderMetrics metrics) {
        this(
                settings,
                new KinesisClientShardProxy(
                        settings.getStreamArn(),
                        // one connection per concurrent call, one spare
                        settings.createKinesisClient(settings.getMaxConcurrentFetches() + 1)),
                metrics,
                FetchClock.SYSTEM,
                callPool(settings.getMaxConcurrentFetches()));
    }

    /**
     * {@code calls} runs the Kinesis calls; an {@link ExecutorService} is shut down on close.
     * Tests pass {@code Runnable::run} (calls complete inside fetch(), in shard order) with a
     * simulated clock, or a real pool to prove that one blocked shard does not stop the others.
     */
    KinesisShardSplitReader(
            KinesisSourceSettings settings,
            KinesisShardProxy kinesis,
            KinesisReaderMetrics metrics,
            FetchClock clock,
            Executor calls) {
        this.settings = settings;
        this.kinesis = kinesis;
        this.clock = clock;
        this.calls = calls;
        this.maxConcurrentFetches = Math.max(1, settings.getMaxConcurrentFetches());
        this.recordsIntervalMs =
                Math.max(
                        settings.getGetRecordsIntervalMs(),
                        KinesisSourceSettings.MIN_GET_RECORDS_INTERVAL_MS);
        this.emptyIntervalMs = Math.max(settings.getEmptyRecordsFetchIntervalMs(), recordsIntervalMs);
        this.caughtUpIntervalMs = Math.max(settings.getCaughtUpFetchIntervalMs(), emptyIntervalMs);
        this.metrics = metrics;
    }

    private static ExecutorService callPool(int threads) {
        AtomicInteger n = new AtomicInteger();
        ClassLoader userCode = KinesisShardSplitReader.class.getClassLoader();
        return Executors.newFixedThreadPool(
                Math.max(1, threads),
                r -> {
                    Thread t = new Thread(r, "kinesis-shard-fetch-" + n.incrementAndGet());
                    t.setDaemon(true);
                    t.setContextClassLoader(userCode);
                    return t;
                });
    }

    @Override
    public RecordsWithSplitIds<Record> fetch() throws IOException {
        startDueCalls();
        CallOutcome outcome = outcomes.poll();
        if (outcome == null) {
            try {
                outcome = clock.poll(outcomes, millisToWait());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("Interrupted while waiting for Kinesis", e);
            }
        }
        RecordsBySplits.Builder<Record> out = new RecordsBySplits.Builder<>();
        for (; outcome != null; outcome = outcomes.poll()) {
            handle(outcome, out);
        }
        return out.build();
    }

    /** Starts a call for every due shard without one, round-robin, within the concurrency cap. */
    private void startDueCalls() {
        long now = clock.nowMillis();
        int n = cursors.size();
        for (int i = 0; i < n && callsOutstanding < maxConcurrentFetches; i++) {
            ShardCursor c = cursors.pollFirst();
            cursors.addLast(c);
            if (!c.inFlight && c.nextPollAtMs <= now) {
                startCall(c);
            }
        }
    }

    private long millisToWait() {
        long wait = MAX_WAIT_MS;
        if (callsOutstanding < maxConcurrentFetches) {
            long now = clock.nowMillis();
            for (ShardCursor c : cursors) {
                if (!c.inFlight) {
                    wait = Math.min(wait, c.nextPollAtMs - now);
                }
            }
        }
        return Math.max(1L, wait);
    }

    private void startCall(ShardCursor c) {
        String iterator = c.iterator;
        // once anything was fetched, resume right after it (also after an expired iterator)
        StartingPosition from =
                c.lastFetchedSequenceNumber != null
                        ? StartingPosition.afterSequenceNumber(c.lastFetchedSequenceNumber)
                        : c.split.getStartingPosition();
        c.inFlight = true;
        callsOutstanding++;
        try {
            calls.execute(() -> outcomes.add(call(c, iterator, from)));
        } catch (RejectedExecutionException e) {
            // the pool is shut down: the reader is closing
            c.inFlight = false;
            callsOutstanding--;
        }
    }

    /** On a pool thread: the Kinesis calls only; nothing of the cursor is changed here. */
    private CallOutcome call(ShardCursor c, String iterator, StartingPosition from) {
        CallOutcome outcome = new CallOutcome(c);
        try {
            if (iterator == null) {
                try {
                    iterator = kinesis.getShardIterator(c.shardId(), from);
                } catch (ResourceNotFoundException e) {
                    outcome.shardGone = true;
                    return outcome;
                }
                if (iterator == null) {
                    outcome.shardGone = true;
                    return outcome;
                }
            }
            outcome.iterator = iterator;
            outcome.getRecordsCalled = true;
            outcome.response = kinesis.getRecords(iterator, settings.getMaxRecordsPerFetch());
        } catch (Throwable t) {
            outcome.failure = t;
        }
        return outcome;
    }

    /** On the fetcher thread: applies one call's outcome to its shard. */
    private void handle(CallOutcome outcome, RecordsBySplits.Builder<Record> out)
            throws IOException {
        ShardCursor c = outcome.cursor;
        if (c == null) {
            return; // a wake-up
        }
        callsOutstanding--;
        c.inFlight = false;
        if (byId.get(c.shardId()) != c) {
            return; // the split was removed while its call ran
        }
        if (outcome.getRecordsCalled) {
            metrics.getRecordsCalls.inc();
        }
        if (outcome.shardGone) {
            LOG.warn(
                    "Shard {} no longer exists (expired past retention?); treating it as finished.",
                    c.shardId());
            finish(c, out);
            return;
        }
        if (outcome.iterator != null) {
            c.iterator = outcome.iterator;
        }
        if (outcome.failure != null) {
            onFailure(c, outcome.failure);
            return;
        }
        GetRecordsResponse response = outcome.response;
        c.failures = 0;
        Long behind = response.millisBehindLatest();
        if (behind != null) {
            metrics.lag(c.shardId(), behind);
        }
        List<Record> records = response.records();
        if (!records.isEmpty()) {
            out.addAll(c.shardId(), records);
            metrics.recordsFetched.inc(records.size());
            c.lastFetchedSequenceNumber = records.get(records.size() - 1).sequenceNumber();
        }
        c.iterator = response.nextShardIterator();
        if (c.iterator == null) {
            finish(c, out);
            return;
        }
        c.nextPollAtMs = clock.nowMillis() + nextInterval(records.isEmpty(), behind);
    }

    /**
     * Records: the fast cadence. Empty with records ahead (Kinesis may return an empty page
     * before the shard's tip): the empty cadence. Empty at the tip: the caught-up cadence; a
     * response without millisBehindLatest (some emulators) counts as at the tip.
     */
    private long nextInterval(boolean empty, Long millisBehindLatest) {
        if (!empty) {
            return recordsIntervalMs;
        }
        boolean caughtUp = millisBehindLatest == null || millisBehindLatest == 0L;
        return caughtUp ? caughtUpIntervalMs : emptyIntervalMs;
    }

    private void onFailure(ShardCursor c, Throwable failure) throws IOException {
        String shardId = c.shardId();
        if (failure instanceof ExpiredIteratorException) {
            LOG.info(
                    "Shard iterator of {} expired; re-acquiring after {}",
                    shardId,
                    c.lastFetchedSequenceNumber);
            c.iterator = null;
            c.nextPollAtMs = 0L;
        } else if (failure instanceof ProvisionedThroughputExceededException
                || failure instanceof LimitExceededException
                || failure instanceof KmsThrottlingException) {
            metrics.throttledRequests.inc();
            backoff(c, failure);
        } else if (failure instanceof ResourceNotFoundException) {
            throw new IOException(
                    "Kinesis shard " + shardId + " or its stream was not found", failure);
        } else if (failure instanceof KinesisException) {
            KinesisException e = (KinesisException) failure;
            if (e.statusCode() >= 500 || e.isThrottlingException()) {
                backoff(c, e);
            } else {
                throw new IOException("GetRecords failed for shard " + shardId, e);
            }
        } else if (failure instanceof SdkClientException) {
            // network trouble or a call timeout that outlived the SDK's own retries
            backoff(c, failure);
        } else if (failure instanceof Error) {
            throw (Error) failure;
        } else {
            throw new IOException("GetRecords failed for shard " + shardId, failure);
        }
    }

    private void finish(ShardCursor c, RecordsBySplits.Builder<Record> out) {
        LOG.info("Reached the end of shard {}", c.shardId());
        out.addFinishedSplit(c.shardId());
        cursors.remove(c);
        byId.remove(c.shardId());
        metrics.shardReleased(c.shardId());
    }

    private void backoff(ShardCursor c, Throwable e) {
        c.failures++;
        long exp = BASE_BACKOFF_MS << Math.min(c.failures - 1, 10);
        long delay = Math.min(MAX_BACKOFF_MS, exp);
        delay = delay / 2 + ThreadLocalRandom.current().nextLong(delay / 2 + 1);
        c.nextPollAtMs = clock.nowMillis() + delay;
        LOG.warn(
                "Kinesis request for shard {} failed (attempt {}), retrying in {} ms: {}",
                c.shardId(),
                c.failures,
                delay,
                e.toString());
    }

    @Override
    public void handleSplitsChanges(SplitsChange<KinesisShardSplit> splitsChanges) {
        if (splitsChanges instanceof SplitsAddition) {
            for (KinesisShardSplit split : splitsChanges.splits()) {
                if (byId.containsKey(split.getShardId())) {
                    continue;
                }
                ShardCursor c = new ShardCursor(split);
                cursors.addLast(c);
                byId.put(split.getShardId(), c);
                metrics.shardAssigned(split.getShardId());
                LOG.info("Reading {}", split);
            }
        } else if (splitsChanges instanceof SplitsRemoval) {
            for (KinesisShardSplit split : splitsChanges.splits()) {
                ShardCursor c = byId.remove(split.getShardId());
                if (c != null) {
                    cursors.remove(c);
                    metrics.shardReleased(split.getShardId());
                }
            }
        }
    }

    @Override
    public void wakeUp() {
        outcomes.add(WAKE_UP);
    }

    @Override
    public void close() {
        byId.keySet().forEach(metrics::shardReleased);
        if (calls instanceof ExecutorService) {
            // interrupts calls still waiting on Kinesis
            ((ExecutorService) calls).shutdownNow();
        }
        kinesis.close();
    }

    /** For tests: shards currently polled. */
    int activeShards() {
        return cursors.size();
    }

    /** For tests: calls started and not yet handed over. */
    int callsOutstanding() {
        return callsOutstanding;
    }
}
