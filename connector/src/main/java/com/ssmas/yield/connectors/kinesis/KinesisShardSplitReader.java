package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.connector.base.source.reader.RecordsBySplits;
import org.apache.flink.connector.base.source.reader.RecordsWithSplitIds;
import org.apache.flink.connector.base.source.reader.splitreader.SplitReader;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsAddition;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsChange;
import org.apache.flink.connector.base.source.reader.splitreader.SplitsRemoval;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;

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
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Polls the shards assigned to one reader, one GetRecords call per {@link #fetch()}, round-robin
 * over the shards that are due, so that every shard gets its turn. Handles shard end, expired
 * iterators (re-acquired after the last fetched sequence number) and throttling (per-shard
 * exponential backoff). Runs in the single fetcher thread of the source reader. Talks to Kinesis
 * through a {@link KinesisShardProxy}.
 */
public class KinesisShardSplitReader implements SplitReader<Record, KinesisShardSplit> {

    private static final Logger LOG = LoggerFactory.getLogger(KinesisShardSplitReader.class);

    private static final long MAX_BACKOFF_MS = 10_000L;
    private static final long BASE_BACKOFF_MS = 200L;

    private final KinesisSourceSettings settings;
    private final KinesisShardProxy kinesis;
    private final MetricGroup metricGroup;
    private final Counter getRecordsCalls;
    private final Counter recordsFetched;
    private final Counter throttled;

    /** Round-robin order of the active shards. */
    private final Deque<ShardCursor> cursors = new ArrayDeque<>();
    private final Map<String, ShardCursor> byId = new ConcurrentHashMap<>();
    private final Set<String> gaugesRegistered = new HashSet<>();

    private final Object sleepLock = new Object();
    private boolean wokenUp;

    /** Fetch position and pacing of one shard. */
    private static final class ShardCursor {
        final KinesisShardSplit split;
        String iterator;
        String lastFetchedSequenceNumber;
        long nextPollAtMs;
        int failures;
        volatile long millisBehindLatest = -1L;

        ShardCursor(KinesisShardSplit split) {
            this.split = split;
            StartingPosition pos = split.getStartingPosition();
            if (pos.getType() == StartingPosition.Type.AFTER_SEQUENCE_NUMBER) {
                lastFetchedSequenceNumber = pos.getSequenceNumber();
            }
        }
    }

    public KinesisShardSplitReader(KinesisSourceSettings settings, MetricGroup readerMetrics) {
        this(
                settings,
                new KinesisClientShardProxy(
                        settings.getStreamArn(), settings.getAws().createKinesisClient(4)),
                readerMetrics);
    }

    KinesisShardSplitReader(
            KinesisSourceSettings settings, KinesisShardProxy kinesis, MetricGroup readerMetrics) {
        this.settings = settings;
        this.kinesis = kinesis;
        this.metricGroup = readerMetrics.addGroup("kinesis");
        this.getRecordsCalls = metricGroup.counter("getRecordsCalls");
        this.recordsFetched = metricGroup.counter("recordsFetched");
        this.throttled = metricGroup.counter("throttledRequests");
    }

    @Override
    public RecordsWithSplitIds<Record> fetch() throws IOException {
        long now = System.currentTimeMillis();
        ShardCursor due = null;
        int n = cursors.size();
        for (int i = 0; i < n; i++) {
            ShardCursor c = cursors.pollFirst();
            cursors.addLast(c);
            if (c.nextPollAtMs <= now) {
                due = c;
                break;
            }
        }
        if (due == null) {
            long wait = 100L;
            for (ShardCursor c : cursors) {
                wait = Math.min(wait, Math.max(1L, c.nextPollAtMs - now));
            }
            sleep(wait);
            return new RecordsBySplits.Builder<Record>().build();
        }
        return poll(due);
    }

    private RecordsWithSplitIds<Record> poll(ShardCursor c) throws IOException {
        RecordsBySplits.Builder<Record> out = new RecordsBySplits.Builder<>();
        String shardId = c.split.getShardId();
        try {
            if (c.iterator == null) {
                c.iterator = acquireIterator(c);
                if (c.iterator == null) {
                    finish(c, out);
                    return out.build();
                }
            }
            getRecordsCalls.inc();
            GetRecordsResponse response =
                    kinesis.getRecords(c.iterator, settings.getMaxRecordsPerFetch());
            c.failures = 0;
            if (response.millisBehindLatest() != null) {
                c.millisBehindLatest = response.millisBehindLatest();
            }
            if (!response.records().isEmpty()) {
                out.addAll(shardId, response.records());
                recordsFetched.inc(response.records().size());
                c.lastFetchedSequenceNumber =
                        response.records().get(response.records().size() - 1).sequenceNumber();
            }
            c.iterator = response.nextShardIterator();
            if (c.iterator == null) {
                finish(c, out);
                return out.build();
            }
            boolean atTip =
                    response.records().isEmpty()
                            || (response.millisBehindLatest() != null
                                    && response.millisBehindLatest() == 0L);
            c.nextPollAtMs =
                    System.currentTimeMillis()
                            + (atTip
                                    ? Math.max(
                                            settings.getEmptyRecordsFetchIntervalMs(),
                                            KinesisSourceSettings.MIN_GET_RECORDS_INTERVAL_MS)
                                    : KinesisSourceSettings.MIN_GET_RECORDS_INTERVAL_MS);
        } catch (ExpiredIteratorException e) {
            LOG.info("Shard iterator of {} expired; re-acquiring after {}", shardId,
                    c.lastFetchedSequenceNumber);
            c.iterator = null;
            c.nextPollAtMs = 0L;
        } catch (ProvisionedThroughputExceededException
                | LimitExceededException
                | KmsThrottlingException e) {
            throttled.inc();
            backoff(c, e);
        } catch (ResourceNotFoundException e) {
            throw new IOException("Kinesis shard " + shardId + " or its stream was not found", e);
        } catch (KinesisException e) {
            if (e.statusCode() >= 500 || e.isThrottlingException()) {
                backoff(c, e);
            } else {
                throw new IOException("GetRecords failed for shard " + shardId, e);
            }
        } catch (SdkClientException e) {
            // network trouble that outlived the SDK's own retries: keep trying with backoff
            backoff(c, e);
        }
        return out.build();
    }

    private String acquireIterator(ShardCursor c) {
        // once anything was fetched, resume right after it (also after an expired iterator)
        StartingPosition from =
                c.lastFetchedSequenceNumber != null
                        ? StartingPosition.afterSequenceNumber(c.lastFetchedSequenceNumber)
                        : c.split.getStartingPosition();
        try {
            return kinesis.getShardIterator(c.split.getShardId(), from);
        } catch (ResourceNotFoundException e) {
            LOG.warn(
                    "Shard {} no longer exists (expired past retention?); treating it as finished.",
                    c.split.getShardId());
            return null;
        }
    }

    private void finish(ShardCursor c, RecordsBySplits.Builder<Record> out) {
        LOG.info("Reached the end of shard {}", c.split.getShardId());
        out.addFinishedSplit(c.split.getShardId());
        cursors.remove(c);
        byId.remove(c.split.getShardId());
    }

    private void backoff(ShardCursor c, Exception e) {
        c.failures++;
        long exp = BASE_BACKOFF_MS << Math.min(c.failures - 1, 10);
        long delay = Math.min(MAX_BACKOFF_MS, exp);
        delay = delay / 2 + ThreadLocalRandom.current().nextLong(delay / 2 + 1);
        c.nextPollAtMs = System.currentTimeMillis() + delay;
        LOG.warn(
                "Kinesis request for shard {} failed (attempt {}), retrying in {} ms: {}",
                c.split.getShardId(),
                c.failures,
                delay,
                e.toString());
    }

    private void sleep(long millis) throws IOException {
        synchronized (sleepLock) {
            if (wokenUp) {
                wokenUp = false;
                return;
            }
            try {
                sleepLock.wait(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("Interrupted while waiting to poll Kinesis", e);
            }
            wokenUp = false;
        }
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
                if (gaugesRegistered.add(split.getShardId())) {
                    metricGroup
                            .addGroup("shardId", split.getShardId())
                            .gauge(
                                    "millisBehindLatest",
                                    () -> {
                                        ShardCursor cur = byId.get(split.getShardId());
                                        return cur == null ? -1L : cur.millisBehindLatest;
                                    });
                }
                LOG.info("Reading {}", split);
            }
        } else if (splitsChanges instanceof SplitsRemoval) {
            for (KinesisShardSplit split : splitsChanges.splits()) {
                ShardCursor c = byId.remove(split.getShardId());
                if (c != null) {
                    cursors.remove(c);
                }
            }
        }
    }

    @Override
    public void wakeUp() {
        synchronized (sleepLock) {
            wokenUp = true;
            sleepLock.notifyAll();
        }
    }

    @Override
    public void close() {
        kinesis.close();
    }

    /** For tests: shards currently polled. */
    int activeShards() {
        return cursors.size();
    }
}
