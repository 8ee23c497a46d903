package com.ssmas.yield.connectors.kinesis;

import java.io.Serializable;
import java.util.Objects;

/** Where a shard split starts reading. Immutable. */
public final class StartingPosition implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Kinesis shard iterator types this connector uses. */
    public enum Type {
        TRIM_HORIZON,
        LATEST,
        AT_TIMESTAMP,
        AFTER_SEQUENCE_NUMBER
    }

    private final Type type;
    private final String sequenceNumber;
    private final Long timestampMillis;

    private StartingPosition(Type type, String sequenceNumber, Long timestampMillis) {
        this.type = Objects.requireNonNull(type);
        this.sequenceNumber = sequenceNumber;
        this.timestampMillis = timestampMillis;
    }

    public static StartingPosition trimHorizon() {
        return new StartingPosition(Type.TRIM_HORIZON, null, null);
    }

    public static StartingPosition latest() {
        return new StartingPosition(Type.LATEST, null, null);
    }

    public static StartingPosition atTimestamp(long epochMillis) {
        return new StartingPosition(Type.AT_TIMESTAMP, null, epochMillis);
    }

    public static StartingPosition afterSequenceNumber(String sequenceNumber) {
        return new StartingPosition(
                Type.AFTER_SEQUENCE_NUMBER, Objects.requireNonNull(sequenceNumber), null);
    }

    static StartingPosition of(Type type, String sequenceNumber, Long timestampMillis) {
        return new StartingPosition(type, sequenceNumber, timestampMillis);
    }

    public Type getType() {
        return type;
    }

    public String getSequenceNumber() {
        return sequenceNumber;
    }

    public Long getTimestampMillis() {
        return timestampMillis;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof StartingPosition)) {
            return false;
        }
        StartingPosition that = (StartingPosition) o;
        return type == that.type
                && Objects.equals(sequenceNumber, that.sequenceNumber)
                && Objects.equals(timestampMillis, that.timestampMillis);
    }

    @Override
    public int hashCode() {
        return Objects.hash(type, sequenceNumber, timestampMillis);
    }

    @Override
    public String toString() {
        switch (type) {
            case AFTER_SEQUENCE_NUMBER:
                return "AFTER_SEQUENCE_NUMBER(" + sequenceNumber + ")";
            case AT_TIMESTAMP:
                return "AT_TIMESTAMP(" + timestampMillis + ")";
            default:
                return type.name();
        }
    }
}
