package com.ssmas.yield.connectors.kinesis;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Checkpointed enumerator state: every known shard with its status. Assignment to readers is not
 * part of it, so it restores at any parallelism: assigned splits come back through the readers'
 * own state, unassigned ones are (re)assigned by the restored enumerator.
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

    /** A shard and its status. */
    public static final class ShardEntry {
        private final KinesisShardSplit split;
        private final ShardStatus status;

        public ShardEntry(KinesisShardSplit split, ShardStatus status) {
            this.split = split;
            this.status = status;
        }

        public KinesisShardSplit getSplit() {
            return split;
        }

        public ShardStatus getStatus() {
            return status;
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
