package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.api.connector.source.SourceSplit;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * One Kinesis shard as a Flink source split: the shard id, its parent shard ids (for ordering
 * after a reshard) and the position to start from.
 *
 * <p>A split with {@code finished = true} is a marker that only travels in the reader's
 * checkpointed state: it tells a restored reader that the shard was fully read but the enumerator
 * may not have learnt so before the checkpoint, so the reader re-reports it instead of reading it.
 */
public final class KinesisShardSplit implements SourceSplit {

    private final String streamArn;
    private final String shardId;
    private final List<String> parentShardIds;
    private final StartingPosition startingPosition;
    private final boolean finished;

    public KinesisShardSplit(
            String streamArn,
            String shardId,
            List<String> parentShardIds,
            StartingPosition startingPosition,
            boolean finished) {
        this.streamArn = Objects.requireNonNull(streamArn);
        this.shardId = Objects.requireNonNull(shardId);
        this.parentShardIds =
                parentShardIds == null
                        ? Collections.emptyList()
                        : Collections.unmodifiableList(new ArrayList<>(parentShardIds));
        this.startingPosition = Objects.requireNonNull(startingPosition);
        this.finished = finished;
    }

    @Override
    public String splitId() {
        return shardId;
    }

    public String getStreamArn() {
        return streamArn;
    }

    public String getShardId() {
        return shardId;
    }

    public List<String> getParentShardIds() {
        return parentShardIds;
    }

    public StartingPosition getStartingPosition() {
        return startingPosition;
    }

    public boolean isFinished() {
        return finished;
    }

    public KinesisShardSplit withStartingPosition(StartingPosition position) {
        return new KinesisShardSplit(streamArn, shardId, parentShardIds, position, finished);
    }

    public KinesisShardSplit asFinishedMarker() {
        return new KinesisShardSplit(streamArn, shardId, parentShardIds, startingPosition, true);
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof KinesisShardSplit)) {
            return false;
        }
        KinesisShardSplit that = (KinesisShardSplit) o;
        return finished == that.finished
                && streamArn.equals(that.streamArn)
                && shardId.equals(that.shardId)
                && parentShardIds.equals(that.parentShardIds)
                && startingPosition.equals(that.startingPosition);
    }

    @Override
    public int hashCode() {
        return Objects.hash(streamArn, shardId, parentShardIds, startingPosition, finished);
    }

    @Override
    public String toString() {
        return "KinesisShardSplit{"
                + shardId
                + ", parents="
                + parentShardIds
                + ", start="
                + startingPosition
                + (finished ? ", FINISHED" : "")
                + '}';
    }
}
