package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.core.memory.DataOutputView;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** Versioned binary form of {@link KinesisShardSplit} (reader state and split assignment). */
public final class KinesisShardSplitSerializer implements SimpleVersionedSerializer<KinesisShardSplit> {

    public static final KinesisShardSplitSerializer INSTANCE = new KinesisShardSplitSerializer();

    private static final int VERSION = 1;

    @Override
    public int getVersion() {
        return VERSION;
    }

    @Override
    public byte[] serialize(KinesisShardSplit split) throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(128);
        write(split, out);
        return out.getCopyOfBuffer();
    }

    @Override
    public KinesisShardSplit deserialize(int version, byte[] serialized) throws IOException {
        if (version != VERSION) {
            throw new IOException("Unknown KinesisShardSplit serializer version " + version);
        }
        return read(new DataInputDeserializer(serialized));
    }

    static void write(KinesisShardSplit split, DataOutputView out) throws IOException {
        out.writeUTF(split.getStreamArn());
        out.writeUTF(split.getShardId());
        out.writeInt(split.getParentShardIds().size());
        for (String parent : split.getParentShardIds()) {
            out.writeUTF(parent);
        }
        StartingPosition pos = split.getStartingPosition();
        out.writeByte(pos.getType().ordinal());
        out.writeBoolean(pos.getSequenceNumber() != null);
        if (pos.getSequenceNumber() != null) {
            out.writeUTF(pos.getSequenceNumber());
        }
        out.writeBoolean(pos.getTimestampMillis() != null);
        if (pos.getTimestampMillis() != null) {
            out.writeLong(pos.getTimestampMillis());
        }
        out.writeBoolean(split.isFinished());
    }

    static KinesisShardSplit read(DataInputView in) throws IOException {
        String streamArn = in.readUTF();
        String shardId = in.readUTF();
        int parents = in.readInt();
        List<String> parentIds = new ArrayList<>(parents);
        for (int i = 0; i < parents; i++) {
            parentIds.add(in.readUTF());
        }
        StartingPosition.Type type = StartingPosition.Type.values()[in.readByte()];
        String seq = in.readBoolean() ? in.readUTF() : null;
        Long ts = in.readBoolean() ? in.readLong() : null;
        boolean finished = in.readBoolean();
        return new KinesisShardSplit(
                streamArn, shardId, parentIds, StartingPosition.of(type, seq, ts), finished);
    }
}
