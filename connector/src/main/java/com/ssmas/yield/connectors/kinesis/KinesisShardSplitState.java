package com.ssmas.yield.connectors.kinesis;

/** Mutable reader-side state of a split: the sequence number of the last record emitted. */
public final class KinesisShardSplitState {

    private final KinesisShardSplit split;
    private String lastEmittedSequenceNumber;

    public KinesisShardSplitState(KinesisShardSplit split) {
        this.split = split;
        StartingPosition pos = split.getStartingPosition();
        this.lastEmittedSequenceNumber =
                pos.getType() == StartingPosition.Type.AFTER_SEQUENCE_NUMBER
                        ? pos.getSequenceNumber()
                        : null;
    }

    public KinesisShardSplit getSplit() {
        return split;
    }

    public String getLastEmittedSequenceNumber() {
        return lastEmittedSequenceNumber;
    }

    public void setLastEmittedSequenceNumber(String sequenceNumber) {
        this.lastEmittedSequenceNumber = sequenceNumber;
    }

    /** The split to checkpoint: resumes AFTER the last emitted record, or where it started. */
    public KinesisShardSplit toSplit() {
        if (lastEmittedSequenceNumber == null) {
            return split;
        }
        return split.withStartingPosition(
                StartingPosition.afterSequenceNumber(lastEmittedSequenceNumber));
    }
}
