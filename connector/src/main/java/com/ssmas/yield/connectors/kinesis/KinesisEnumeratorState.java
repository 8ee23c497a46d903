package com.ssmas.yield.connectors.kinesis;

import java.math.BigInteger;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Checkpointed enumerator state: every known shard with its status and hash-key range. Assignment
 * to readers is not part of it, so it restores at any parallelism: assigned splits come back
 * through the readers' own state, unassigned ones are (re)assigned by the restored enumerator.
 */
public final class KinesisEnumeratorState {

    /** Life cycle of a shard as the enumerator sees it. */
    public enum ShardStatus {
        /** Known, not yet handed to a reader (waiting for its parents or for a reader). */
        UNASSIGNED,
        /** Handed to a reader; its progress lives in that reader's state. */
        ASSIGNED,
        /** Read to its end. */
        FINISHED
    }

    /**
     * A shard, its status, and the hash keys it covers (inclusive; what the assignment to readers
     * is computed from). The range is null only for a shard restored from a checkpoint written
     * before ranges were kept, until ListShards names it again.
     */
    public static final class ShardEntry {
        private final KinesisShardSplit split;
        private final ShardStatus status;
        private final BigInteger startingHashKey;
        private final BigInteger endingHashKey;

        public ShardEntry(KinesisShardSplit split, ShardStatus status) {
            this(split, status, null, null);
        }

        public ShardEntry(
                KinesisShardSplit split,
                ShardStatus status,
                BigInteger startingHashKey,
                BigInteger endingHashKey) {
            if ((startingHashKey == null) != (endingHashKey == null)) {
                throw new IllegalArgumentException(
                        "A hash-key range needs both ends, got " + startingHashKey + ".." + endingHashKey);
            }
            this.split = Objects.requireNonNull(split);
            this.status = Objects.requireNonNull(status);
            this.startingHashKey = startingHashKey;
            this.endingHashKey = endingHashKey;
        }

        public KinesisShardSplit getSplit() {
            return split;
        }

        public ShardStatus getStatus() {
            return status;
        }

        public boolean hasHashKeyRange() {
            return startingHashKey != null;
        }

        public BigInteger getStartingHashKey() {
            return startingHashKey;
        }

        public BigInteger getEndingHashKey() {
            return endingHashKey;
        }

        public ShardEntry withStatus(ShardStatus newStatus) {
            return new ShardEntry(split, newStatus, startingHashKey, endingHashKey);
        }

        public ShardEntry withSplit(KinesisShardSplit newSplit, ShardStatus newStatus) {
            return new ShardEntry(newSplit, newStatus, startingHashKey, endingHashKey);
        }

        public ShardEntry withHashKeyRange(BigInteger start, BigInteger end) {
            return new ShardEntry(split, status, start, end);
        }

        @Override
        public String toString() {
            return split.getShardId() + "=" + status;
        }
    }

    private final Map<String, ShardEntry> shards;
    private final boolean initialDiscoveryDone;

    public KinesisEnumeratorState(Map<String, ShardEntry> shards, boolean initialDiscoveryDone) {
        this.shards = Collections.unmodifiableMap(new LinkedHashMap<>(shards));
        this.initialDiscoveryDone = initialDiscoveryDone;
    }

    public Map<String, ShardEntry> getShards() {
        return shards;
    }

    public boolean isInitialDiscoveryDone() {
        return initialDiscoveryDone;
    }

    @Override
    public String toString() {
        return "KinesisEnumeratorState{" + shards.values() + '}';
    }
}
