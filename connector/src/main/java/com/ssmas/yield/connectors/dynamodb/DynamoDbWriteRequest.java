package com.ssmas.yield.connectors.dynamodb;

import java.io.Serializable;
import java.util.Arrays;
import java.util.Objects;

/**
 * One buffered write: a whole item to put, or a key to delete. Attribute values are kept as
 * (DynamoDB type, text) pairs so the buffer checkpoints without AWS SDK classes.
 */
public final class DynamoDbWriteRequest implements Serializable {

    private static final long serialVersionUID = 1L;

    /** PUT (INSERT / UPDATE_AFTER) or DELETE. */
    public enum Type {
        PUT,
        DELETE
    }

    /** DynamoDB attribute kinds produced by the converter. */
    public static final byte KIND_S = 'S';
    public static final byte KIND_N = 'N';
    public static final byte KIND_BOOL = 'B';

    private final Type type;
    private final String[] names;
    private final byte[] kinds;
    private final String[] values;
    /** Key attributes joined, for de-duplication within a batch; null when the sink has no key. */
    private final String dedupKey;

    public DynamoDbWriteRequest(
            Type type, String[] names, byte[] kinds, String[] values, String dedupKey) {
        this.type = Objects.requireNonNull(type);
        this.names = names;
        this.kinds = kinds;
        this.values = values;
        this.dedupKey = dedupKey;
    }

    public Type getType() {
        return type;
    }

    public int size() {
        return names.length;
    }

    public String name(int i) {
        return names[i];
    }

    public byte kind(int i) {
        return kinds[i];
    }

    public String value(int i) {
        return values[i];
    }

    public String getDedupKey() {
        return dedupKey;
    }

    /** Rough request size for the batch byte limit. */
    public long sizeInBytes() {
        long size = 16;
        for (int i = 0; i < names.length; i++) {
            size += names[i].length() + values[i].length() + 1;
        }
        return size;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof DynamoDbWriteRequest)) {
            return false;
        }
        DynamoDbWriteRequest that = (DynamoDbWriteRequest) o;
        return type == that.type
                && Arrays.equals(names, that.names)
                && Arrays.equals(kinds, that.kinds)
                && Arrays.equals(values, that.values)
                && Objects.equals(dedupKey, that.dedupKey);
    }

    @Override
    public int hashCode() {
        return Objects.hash(type, Arrays.hashCode(names), Arrays.hashCode(values), dedupKey);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(type.name()).append('{');
        for (int i = 0; i < names.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(names[i]).append('=').append((char) kinds[i]).append(':').append(values[i]);
        }
        return sb.append('}').toString();
    }
}
