package com.ssmas.yield.connectors.kinesis;

import com.ssmas.yield.connectors.kinesis.KinesisEnumeratorState.ShardEntry;
import com.ssmas.yield.connectors.kinesis.KinesisEnumeratorState.ShardStatus;

import org.apache.flink.api.connector.source.SourceEvent;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.connector.source.SplitsAssignment;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.services.kinesis.model.AccessDeniedException;
import software.amazon.awssdk.services.kinesis.model.HashKeyRange;
import software.amazon.awssdk.services.kinesis.model.ResourceNotFoundException;
import software.amazon.awssdk.services.kinesis.model.Shard;

import java.io.IOException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Discovers shards with ListShards (StreamARN, paginated; no ShardFilter so that emulators that
 * ignore it behave the same), and assigns each shard to the reader that owns the middle of its
 * hash-key range ({@link HashKeyRangeAssignment}) once all its parents are finished (or no longer
 * listed, i.e. expired past retention).
 *
 * <p>The open children of a resharding are assigned together, once no closed shard that could
 * be read is still unfinished. A reader given one child early (its parent was read first) would
 * read that child ahead, and its watermark with it; a sibling child assigned to the same reader
 * later (its parent read by a slower reader, e.g. catching up a backlog or restored from a
 * savepoint) would then be behind that watermark, and all its records late.
 */
public class KinesisShardEnumerator
        implements SplitEnumerator<KinesisShardSplit, KinesisEnumeratorState> {

    private static final Logger LOG = LoggerFactory.getLogger(KinesisShardEnumerator.class);

    private final SplitEnumeratorContext<KinesisShardSplit> context;
    private final KinesisSourceSettings settings;
    private final Map<String, ShardEntry> shards;
    private boolean initialDiscoveryDone;
    /**
     * Whether a ListShards round of this enumerator (not of the one that wrote the restored
     * state) has succeeded: until then a restored shard without a hash-key range is not assigned,
     * because the first round will most likely supply its range.
     */
    private boolean listedSinceStart;
    private final long startTimeMillis = System.currentTimeMillis();
    private final Supplier<KinesisShardProxy> kinesisFactory;
    private KinesisShardProxy kinesis;

    public KinesisShardEnumerator(
            SplitEnumeratorContext<KinesisShardSplit> context,
            KinesisSourceSettings settings,
            KinesisEnumeratorState restored) {
        this(
                context,
                settings,
                restored,
                () ->
                        new KinesisClientShardProxy(
                                settings.getStreamArn(), settings.createKinesisClient(2)));
    }

    /** {@code kinesisFactory} is called once, in {@link #start()} (on the JobManager). */
    KinesisShardEnumerator(
            SplitEnumeratorContext<KinesisShardSplit> context,
            KinesisSourceSettings settings,
            KinesisEnumeratorState restored,
            Supplier<KinesisShardProxy> kinesisFactory) {
        this.context = context;
        this.settings = settings;
        this.kinesisFactory = kinesisFactory;
        this.shards = new LinkedHashMap<>();
        if (restored != null) {
            shards.putAll(restored.getShards());
            this.initialDiscoveryDone = restored.isInitialDiscoveryDone();
            LOG.info("Restored Kinesis enumerator state: {}", restored);
        }
    }

    @Override
    public void start() {
        kinesis = kinesisFactory.get();
        context.callAsync(
                kinesis::listShards, this::onShardsListed, 0L, settings.getDiscoveryIntervalMs());
    }

    private void onShardsListed(List<Shard> listed, Throwable error) {
        if (error != null) {
            if (error instanceof ResourceNotFoundException
                    || error instanceof AccessDeniedException) {
                throw new RuntimeException(
                        "Cannot list the shards of " + settings.getStreamArn(), error);
            }
            LOG.warn("Shard discovery for {} failed; retrying.", settings.getStreamArn(), error);
            return;
        }
        Set<String> listedIds = new HashSet<>();
        boolean initial = !initialDiscoveryDone;
        for (Shard shard : listed) {
            listedIds.add(shard.shardId());
            BigInteger[] range = hashKeyRange(shard);
            ShardEntry known = shards.get(shard.shardId());
            if (known != null) {
                if (!known.hasHashKeyRange() && range != null) {
                    // restored from a checkpoint written before ranges were kept
                    shards.put(shard.shardId(), known.withHashKeyRange(range[0], range[1]));
                }
                continue;
            }
            List<String> parents = new ArrayList<>(2);
            if (shard.parentShardId() != null) {
                parents.add(shard.parentShardId());
            }
            if (shard.adjacentParentShardId() != null) {
                parents.add(shard.adjacentParentShardId());
            }
            boolean closed =
                    shard.sequenceNumberRange() != null
                            && shard.sequenceNumberRange().endingSequenceNumber() != null;
            StartingPosition start;
            ShardStatus status = ShardStatus.UNASSIGNED;
            if (!initial) {
                // shards created after the job started (reshard children): read all of them
                start = StartingPosition.trimHorizon();
            } else {
                switch (settings.getInitialPosition()) {
                    case TRIM_HORIZON:
                        start = StartingPosition.trimHorizon();
                        break;
                    case AT_TIMESTAMP:
                        start = StartingPosition.atTimestamp(settings.getInitialTimestampMillis());
                        break;
                    case LATEST:
                    default:
                        // LATEST is pinned to the job's start time so that a restore before the
                        // first record does not skip the records that arrived in between.
                        start = StartingPosition.atTimestamp(startTimeMillis);
                        if (closed) {
                            status = ShardStatus.FINISHED;
                        }
                        break;
                }
            }
            KinesisShardSplit split =
                    new KinesisShardSplit(
                            settings.getStreamArn(), shard.shardId(), parents, start, false);
            shards.put(
                    shard.shardId(),
                    range == null
                            ? new ShardEntry(split, status)
                            : new ShardEntry(split, status, range[0], range[1]));
            LOG.info("Discovered shard {} ({}, {})", shard.shardId(), status, start);
        }
        // forget finished shards that are no longer listed (expired past the retention period)
        shards.entrySet()
                .removeIf(
                        e ->
                                e.getValue().getStatus() == ShardStatus.FINISHED
                                        && !listedIds.contains(e.getKey()));
        initialDiscoveryDone = true;
        listedSinceStart = true;
        assignPendingSplits();
    }

    /** {start, end} of the shard's hash keys, or null when ListShards did not say (emulators). */
    private static BigInteger[] hashKeyRange(Shard shard) {
        HashKeyRange range = shard.hashKeyRange();
        if (range == null || range.startingHashKey() == null || range.endingHashKey() == null) {
            return null;
        }
        try {
            return new BigInteger[] {
                new BigInteger(range.startingHashKey()), new BigInteger(range.endingHashKey())
            };
        } catch (NumberFormatException e) {
            LOG.warn("Shard {} has an unreadable hash-key range {}", shard.shardId(), range);
            return null;
        }
    }

    private boolean parentsDone(KinesisShardSplit split) {
        for (String parent : split.getParentShardIds()) {
            ShardEntry entry = shards.get(parent);
            if (entry != null && entry.getStatus() != ShardStatus.FINISHED) {
                return false;
            }
        }
        return true;
    }

    /** The reader of a shard, or -1 while a restored shard's range is still to be listed. */
    private int readerOf(String shardId, ShardEntry entry, int parallelism) {
        if (entry.hasHashKeyRange()) {
            return HashKeyRangeAssignment.readerOf(
                    entry.getStartingHashKey(), entry.getEndingHashKey(), parallelism);
        }
        return listedSinceStart
                ? HashKeyRangeAssignment.readerOfShardWithoutRange(shardId, parallelism)
                : -1;
    }

    /**
     * The closed shards (parents of a known shard) that can be read now (their own parents are
     * done) and are not finished: while any is left, open children wait.
     */
    private Set<String> unfinishedParents() {
        Set<String> parents = new HashSet<>();
        for (ShardEntry entry : shards.values()) {
            parents.addAll(entry.getSplit().getParentShardIds());
        }
        Set<String> unfinished = new HashSet<>();
        for (String id : parents) {
            ShardEntry entry = shards.get(id);
            if (entry != null
                    && entry.getStatus() != ShardStatus.FINISHED
                    && parentsDone(entry.getSplit())) {
                unfinished.add(id);
            }
        }
        return unfinished;
    }

    private void assignPendingSplits() {
        int parallelism = context.currentParallelism();
        Map<Integer, List<KinesisShardSplit>> assignment = new HashMap<>();
        Set<String> unfinishedParents = unfinishedParents();
        for (Map.Entry<String, ShardEntry> e : shards.entrySet()) {
            ShardEntry entry = e.getValue();
            if (entry.getStatus() != ShardStatus.UNASSIGNED || !parentsDone(entry.getSplit())) {
                continue;
            }
            boolean openChild =
                    !entry.getSplit().getParentShardIds().isEmpty()
                            && !unfinishedParents.contains(e.getKey());
            if (openChild && !unfinishedParents.isEmpty()) {
                continue; // its siblings' parents are still being read: start them together
            }
            int owner = readerOf(e.getKey(), entry, parallelism);
            if (owner < 0 || !context.registeredReaders().containsKey(owner)) {
                continue;
            }
            assignment.computeIfAbsent(owner, k -> new ArrayList<>()).add(entry.getSplit());
        }
        if (assignment.isEmpty()) {
            return;
        }
        for (List<KinesisShardSplit> splits : assignment.values()) {
            for (KinesisShardSplit split : splits) {
                shards.compute(
                        split.getShardId(), (id, e) -> e.withStatus(ShardStatus.ASSIGNED));
            }
        }
        LOG.info("Assigning Kinesis shards: {}", assignment);
        context.assignSplits(new SplitsAssignment<>(assignment));
    }

    @Override
    public void handleSourceEvent(int subtaskId, SourceEvent sourceEvent) {
        if (sourceEvent instanceof SplitsFinishedEvent) {
            for (String shardId : ((SplitsFinishedEvent) sourceEvent).getFinishedShardIds()) {
                ShardEntry entry = shards.get(shardId);
                if (entry != null && entry.getStatus() != ShardStatus.FINISHED) {
                    shards.put(shardId, entry.withStatus(ShardStatus.FINISHED));
                    LOG.info("Shard {} finished (reported by subtask {})", shardId, subtaskId);
                }
            }
            assignPendingSplits();
        }
    }

    @Override
    public void handleSplitRequest(int subtaskId, String requesterHostname) {
        // splits are pushed, not pulled
    }

    @Override
    public void addSplitsBack(List<KinesisShardSplit> splits, int subtaskId) {
        for (KinesisShardSplit split : splits) {
            ShardEntry entry = shards.get(split.getShardId());
            if (entry != null && entry.getStatus() == ShardStatus.FINISHED) {
                continue;
            }
            // keep the range the enumerator knows; the split (with its progress) is the reader's
            shards.put(
                    split.getShardId(),
                    entry == null
                            ? new ShardEntry(split, ShardStatus.UNASSIGNED)
                            : entry.withSplit(split, ShardStatus.UNASSIGNED));
        }
        LOG.info("Splits returned by failed subtask {}: {}", subtaskId, splits);
        assignPendingSplits();
    }

    @Override
    public void addReader(int subtaskId) {
        assignPendingSplits();
    }

    @Override
    public KinesisEnumeratorState snapshotState(long checkpointId) {
        return new KinesisEnumeratorState(shards, initialDiscoveryDone);
    }

    @Override
    public void close() throws IOException {
        if (kinesis != null) {
            kinesis.close();
        }
    }
}
