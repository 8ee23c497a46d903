package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/** Versioned binary form of {@link KinesisEnumeratorState}. */
public final class KinesisEnumeratorStateSerializer
        implements SimpleVersionedSerializer<KinesisEnumeratorState> {

    private static final int VERSION = 1;

    @Override
    public int getVersion() {
        return VERSION;
    }

    @Override
    public byte[] serialize(KinesisEnumeratorState state) throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(1024);
        out.writeBoolean(state.isInitialDiscoveryDone());
        out.writeInt(state.getShards().size());
        for (KinesisEnumeratorState.ShardEntry entry : state.getShards().values()) {
            out.writeByte(entry.getStatus().ordinal());
            KinesisShardSplitSerializer.write(entry.getSplit(), out);
        }
        return out.getCopyOfBuffer();
    }

    @Override
    public KinesisEnumeratorState deserialize(int version, byte[] serialized) throws IOException {
        if (version != VERSION) {
            throw new IOException("Unknown Kinesis enumerator state version " + version);
        }
        DataInputDeserializer in = new DataInputDeserializer(serialized);
        boolean initialDone = in.readBoolean();
        int n = in.readInt();
        Map<String, KinesisEnumeratorState.ShardEntry> shards = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            KinesisEnumeratorState.ShardStatus status =
                    KinesisEnumeratorState.ShardStatus.values()[in.readByte()];
            KinesisShardSplit split = KinesisShardSplitSerializer.read(in);
            shards.put(split.getShardId(), new KinesisEnumeratorState.ShardEntry(split, status));
        }
        return new KinesisEnumeratorState(shards, initialDone);
    }
}
