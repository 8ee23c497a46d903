package com.ssmas.yield.connectors.kinesis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.ssmas.yield.connectors.kinesis.KinesisEnumeratorState.ShardEntry;
import com.ssmas.yield.connectors.kinesis.KinesisEnumeratorState.ShardStatus;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The enumerator's checkpoint (every known shard, its status and hash-key range) survives a
 * restore exactly, and checkpoints of the previous version (no ranges) still restore.
 */
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
        state.getShards().forEach((id, e) -> out.add(id + " " + e.getStatus() + " " + e.getSplit()
                + " keys " + e.getStartingHashKey() + ".." + e.getEndingHashKey()));
        return out;
    }

    @Test
    void hashKeyRangesComeBackExactlyAndAShardWithoutOneStaysWithout() throws IOException {
        BigInteger max = BigInteger.ONE.shiftLeft(128).subtract(BigInteger.ONE);
        Map<String, ShardEntry> shards = new LinkedHashMap<>();
        shards.put("shardId-000000000000", new ShardEntry(
                new KinesisShardSplit(KinesisTestSettings.STREAM_ARN, "shardId-000000000000", List.of(),
                        StartingPosition.trimHorizon(), false),
                ShardStatus.ASSIGNED, BigInteger.ZERO, max));
        shards.put("shardId-000000000001", new ShardEntry(
                new KinesisShardSplit(KinesisTestSettings.STREAM_ARN, "shardId-000000000001", List.of(),
                        StartingPosition.trimHorizon(), false),
                ShardStatus.UNASSIGNED, new BigInteger("3402823669209384634633746074317682114"),
                new BigInteger("6805647338418769269267492148635364228")));
        add(shards, "shardId-000000000002", List.of(), StartingPosition.trimHorizon(), ShardStatus.UNASSIGNED);

        KinesisEnumeratorState restored = roundTrip(new KinesisEnumeratorState(shards, true));

        assertEquals(describe(new KinesisEnumeratorState(shards, true)), describe(restored));
        assertEquals(max, restored.getShards().get("shardId-000000000000").getEndingHashKey());
        assertFalse(restored.getShards().get("shardId-000000000002").hasHashKeyRange());
    }

    @Test
    void aCheckpointOfVersionOneRestoresWithoutRanges() throws Exception {
        KinesisEnumeratorState restored = KinesisShardEnumeratorTest.versionOneCheckpoint();

        assertEquals(List.of(
                        "initialDiscoveryDone=true",
                        "shardId-000000000000 FINISHED KinesisShardSplit{shardId-000000000000, parents=[], "
                                + "start=TRIM_HORIZON} keys null..null",
                        "shardId-000000000001 ASSIGNED KinesisShardSplit{shardId-000000000001, parents=[], "
                                + "start=TRIM_HORIZON} keys null..null",
                        "shardId-000000000002 UNASSIGNED KinesisShardSplit{shardId-000000000002, "
                                + "parents=[shardId-000000000000], start=TRIM_HORIZON} keys null..null",
                        "shardId-000000000003 UNASSIGNED KinesisShardSplit{shardId-000000000003, "
                                + "parents=[shardId-000000000000], start=TRIM_HORIZON} keys null..null",
                        "shardId-000000000004 UNASSIGNED KinesisShardSplit{shardId-000000000004, "
                                + "parents=[shardId-000000000001], start=TRIM_HORIZON} keys null..null"),
                describe(restored));
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

        IOException refused = assertThrows(IOException.class, () -> serializer.deserialize(3, bytes));
        assertTrue(refused.getMessage().contains("version 3"), refused.getMessage());
    }
}
