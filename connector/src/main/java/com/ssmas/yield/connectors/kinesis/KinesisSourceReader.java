package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.api.connector.source.ReaderOutput;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.source.reader.RecordEmitter;
import org.apache.flink.connector.base.source.reader.SingleThreadMultiplexSourceReaderBase;
import org.apache.flink.connector.base.source.reader.splitreader.SplitReader;
import org.apache.flink.core.io.InputStatus;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.services.kinesis.model.Record;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Source reader of the Kinesis source. Besides the usual split handling it makes shard
 * completion durable: a shard read to its end is reported to the enumerator at once and is kept as
 * a "finished" marker in this reader's checkpointed state until a later checkpoint has completed,
 * so that after a restore the enumerator learns it again and the shard's children get assigned.
 */
public class KinesisSourceReader<T>
        extends SingleThreadMultiplexSourceReaderBase<
                Record, T, KinesisShardSplit, KinesisShardSplitState> {

    private static final Logger LOG = LoggerFactory.getLogger(KinesisSourceReader.class);

    /** Finished shards still kept in state -> id of the first checkpoint that contained them. */
    private final Map<String, FinishedShard> finished = new LinkedHashMap<>();

    private final List<String> restoredFinishedToReport = new ArrayList<>();

    /**
     * Shards assigned but not yet registered as split outputs. The base class creates a split's
     * watermark output only when its first records arrive, so until then a shard read later
     * would not hold the watermark back, and a shard read first (a backlog, a catch-up after a
     * restore) would push it past that shard's records. Registering every assigned shard at once
     * makes the watermark the minimum over all of them; an empty shard still stops holding it
     * back after the idle timeout.
     */
    private final Set<String> splitsWithoutOutput = new LinkedHashSet<>();
    private boolean started;

    private static final class FinishedShard {
        final KinesisShardSplit marker;
        long firstCheckpointId = -1L;

        FinishedShard(KinesisShardSplit marker) {
            this.marker = marker;
        }
    }

    public KinesisSourceReader(
            Supplier<SplitReader<Record, KinesisShardSplit>> splitReaderSupplier,
            RecordEmitter<Record, T, KinesisShardSplitState> recordEmitter,
            Configuration config,
            SourceReaderContext context) {
        super(splitReaderSupplier, recordEmitter, config, context);
    }

    @Override
    public void start() {
        super.start();
        started = true;
        if (!restoredFinishedToReport.isEmpty()) {
            LOG.info("Re-reporting restored finished shards {}", restoredFinishedToReport);
            context.sendSourceEventToCoordinator(
                    new SplitsFinishedEvent(new ArrayList<>(restoredFinishedToReport)));
            restoredFinishedToReport.clear();
        }
    }

    @Override
    public void addSplits(List<KinesisShardSplit> splits) {
        List<KinesisShardSplit> toRead = new ArrayList<>(splits.size());
        List<String> markers = new ArrayList<>();
        for (KinesisShardSplit split : splits) {
            if (split.isFinished()) {
                finished.put(split.getShardId(), new FinishedShard(split));
                markers.add(split.getShardId());
            } else {
                toRead.add(split);
            }
        }
        if (!markers.isEmpty()) {
            if (started) {
                context.sendSourceEventToCoordinator(new SplitsFinishedEvent(markers));
            } else {
                restoredFinishedToReport.addAll(markers);
            }
        }
        if (!toRead.isEmpty()) {
            toRead.forEach(split -> splitsWithoutOutput.add(split.splitId()));
            super.addSplits(toRead);
        }
    }

    @Override
    public InputStatus pollNext(ReaderOutput<T> output) throws Exception {
        if (!splitsWithoutOutput.isEmpty()) {
            splitsWithoutOutput.forEach(output::createOutputForSplit);
            splitsWithoutOutput.clear();
        }
        return super.pollNext(output);
    }

    @Override
    protected void onSplitFinished(Map<String, KinesisShardSplitState> finishedSplitIds) {
        for (KinesisShardSplitState state : finishedSplitIds.values()) {
            KinesisShardSplit split = state.toSplit();
            finished.put(split.getShardId(), new FinishedShard(split.asFinishedMarker()));
        }
        context.sendSourceEventToCoordinator(new SplitsFinishedEvent(finishedSplitIds.keySet()));
    }

    @Override
    public List<KinesisShardSplit> snapshotState(long checkpointId) {
        List<KinesisShardSplit> state = new ArrayList<>(super.snapshotState(checkpointId));
        for (FinishedShard f : finished.values()) {
            if (f.firstCheckpointId < 0) {
                f.firstCheckpointId = checkpointId;
            }
            state.add(f.marker);
        }
        return state;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) throws Exception {
        super.notifyCheckpointComplete(checkpointId);
        // keep a marker until a checkpoint *after* the first one containing it completed: by
        // then the enumerator's own snapshot has recorded the shard as finished.
        finished.values()
                .removeIf(f -> f.firstCheckpointId >= 0 && checkpointId > f.firstCheckpointId);
    }

    @Override
    protected KinesisShardSplitState initializedState(KinesisShardSplit split) {
        return new KinesisShardSplitState(split);
    }

    @Override
    protected KinesisShardSplit toSplitType(String splitId, KinesisShardSplitState state) {
        return state.toSplit();
    }
}
