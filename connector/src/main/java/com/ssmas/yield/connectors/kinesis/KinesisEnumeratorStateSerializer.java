package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

import java.io.IOException;
import java.math.BigInteger;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Versioned binary form of {@link KinesisEnumeratorState}.
 *
 * <ul>
 *   <li>Version 2 (written): per shard its status, its split, and its hash-key range (absent
 *       for a shard whose range is not known yet).
 *   <li>Version 1 (read only; checkpoints and savepoints of the hash(shardId) assignment): per
 *       shard its status and split. Restored shards have no range until the first ListShards of
 *       the restored enumerator names them; the enumerator assigns nothing without a range before
 *       that round.
 * </ul>
 */
public final class KinesisEnumeratorStateSerializer
        implements SimpleVersionedSerializer<KinesisEnumeratorState> {

    private static final int VERSION_WITHOUT_HASH_KEY_RANGES = 1;
    private static final int VERSION = 2;

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
            out.writeBoolean(entry.hasHashKeyRange());
            if (entry.hasHashKeyRange()) {
                // decimal, as Kinesis writes hash keys: 0 .. 2^128 - 1
                out.writeUTF(entry.getStartingHashKey().toString());
                out.writeUTF(entry.getEndingHashKey().toString());
            }
        }
        return out.getCopyOfBuffer();
    }

    @Override
    public KinesisEnumeratorState deserialize(int version, byte[] serialized) throws IOException {
        if (version != VERSION && version != VERSION_WITHOUT_HASH_KEY_RANGES) {
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
            BigInteger start = null;
            BigInteger end = null;
            if (version >= VERSION && in.readBoolean()) {
                start = new BigInteger(in.readUTF());
                end = new BigInteger(in.readUTF());
            }
            shards.put(
                    split.getShardId(),
                    new KinesisEnumeratorState.ShardEntry(split, status, start, end));
        }
        return new KinesisEnumeratorState(shards, initialDone);
    }
}
