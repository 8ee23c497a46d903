package com.ssmas.yield.connectors.kinesis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.ssmas.yield.connectors.kinesis.KinesisEnumeratorState.ShardEntry;
import com.ssmas.yield.connectors.kinesis.KinesisEnumeratorState.ShardStatus;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The enumerator's checkpoint (every known shard and its status) survives a restore exactly. */
class KinesisEnumeratorStateSerializerTest {

    private final KinesisEnumeratorStateSerializer serializer = new KinesisEnumeratorStateSerializer();

    private static void add(Map<String, ShardEntry> shards, String shardId, List<String> parents,
                            StartingPosition start, ShardStatus status) {
        shards.put(shardId, new ShardEntry(
                new KinesisShardSplit(KinesisTestSettings.STREAM_ARN, shardId, parents, start, false), status));
    }

    private KinesisEnumeratorState roundTrip(KinesisEnumeratorState state) throws IOException {
        return serializer.deserialize(serializer.getVersion(), serializer.serialize(state));
    }

    /** ShardEntry has no equals: compare what it holds, in order. */
    private static List<String> describe(KinesisEnumeratorState state) {
        List<String> out = new ArrayList<>();
        out.add("initialDiscoveryDone=" + state.isInitialDiscoveryDone());
        state.getShards().forEach((id, e) -> out.add(id + " " + e.getStatus() + " " + e.getSplit()));
        return out;
    }

    @Test
    void everyShardKeepsItsStatusPositionAndParentsInOrder() throws IOException {
        Map<String, ShardEntry> shards = new LinkedHashMap<>();
        add(shards, "shardId-000000000000", List.of(), StartingPosition.atTimestamp(1_714_557_600_000L), ShardStatus.FINISHED);
        add(shards, "shardId-000000000001", List.of(), StartingPosition.trimHorizon(), ShardStatus.FINISHED);
        add(shards, "shardId-000000000002", List.of("shardId-000000000000", "shardId-000000000001"),
                StartingPosition.trimHorizon(), ShardStatus.ASSIGNED);
        add(shards, "shardId-000000000003", List.of("shardId-000000000002"),
                StartingPosition.afterSequenceNumber("9".repeat(128)), ShardStatus.UNASSIGNED);
        add(shards, "分片-\uD83D\uDE80", List.of(), StartingPosition.latest(), ShardStatus.UNASSIGNED);
        KinesisEnumeratorState original = new KinesisEnumeratorState(shards, true);

        KinesisEnumeratorState restored = roundTrip(original);

        assertEquals(describe(original), describe(restored));
        for (String id : shards.keySet()) {
            assertEquals(original.getShards().get(id).getSplit(), restored.getShards().get(id).getSplit());
        }
    }

    @Test
    void anEmptyStateBeforeTheFirstDiscoveryRoundTrips() throws IOException {
        KinesisEnumeratorState restored = roundTrip(new KinesisEnumeratorState(Map.of(), false));

        assertEquals(0, restored.getShards().size());
        assertEquals(false, restored.isInitialDiscoveryDone());
    }

    @Test
    void anUnknownVersionIsRefused() throws IOException {
        byte[] bytes = serializer.serialize(new KinesisEnumeratorState(Map.of(), true));

        IOException refused = assertThrows(IOException.class, () -> serializer.deserialize(2, bytes));
        assertTrue(refused.getMessage().contains("version 2"), refused.getMessage());
    }
}
