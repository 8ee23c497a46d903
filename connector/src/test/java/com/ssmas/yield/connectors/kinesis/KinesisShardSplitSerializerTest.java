package com.ssmas.yield.connectors.kinesis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.util.List;
import java.util.stream.Stream;

/** A shard split survives a checkpoint and a restore exactly (reader state and split assignment). */
class KinesisShardSplitSerializerTest {

    /** Kinesis sequence numbers can be 128 digits long. */
    private static final String LONGEST_SEQUENCE_NUMBER = "9".repeat(128);

    private static KinesisShardSplit split(String shardId, List<String> parents, StartingPosition start, boolean finished) {
        return new KinesisShardSplit(KinesisTestSettings.STREAM_ARN, shardId, parents, start, finished);
    }

    static Stream<KinesisShardSplit> splits() {
        return Stream.of(
                split("shardId-000000000000", List.of(), StartingPosition.trimHorizon(), false),
                split("shardId-000000000001", List.of(), StartingPosition.latest(), false),
                split("shardId-000000000002", List.of("shardId-000000000000"),
                        StartingPosition.atTimestamp(1_714_557_600_123L), false),
                split("shardId-000000000003", List.of("shardId-000000000001", "shardId-000000000002"),
                        StartingPosition.afterSequenceNumber(LONGEST_SEQUENCE_NUMBER), false),
                // finished marker kept in the reader's state after the shard end
                split("shardId-000000000004", List.of(),
                        StartingPosition.afterSequenceNumber("49590338271490256608559692538361571095921575989136588898"), true),
                // edge values: a timestamp before 1970, a shard id outside ASCII and the BMP, empty text
                split("shård-\u00e9-\uD83D\uDE80-分片", List.of("父-\uD83D\uDE80"), StartingPosition.atTimestamp(-1L), false),
                split("shardId-000000000005", List.of(), StartingPosition.atTimestamp(Long.MAX_VALUE), false),
                split("", List.of(""), StartingPosition.afterSequenceNumber(""), false));
    }

    @ParameterizedTest
    @MethodSource("splits")
    void roundTripGivesTheSameSplit(KinesisShardSplit original) throws IOException {
        KinesisShardSplitSerializer serializer = KinesisShardSplitSerializer.INSTANCE;
        KinesisShardSplit restored = serializer.deserialize(serializer.getVersion(), serializer.serialize(original));

        assertEquals(original, restored);
        assertEquals(original.getStartingPosition().getType(), restored.getStartingPosition().getType());
        assertEquals(original.getStartingPosition().getSequenceNumber(), restored.getStartingPosition().getSequenceNumber());
        assertEquals(original.getStartingPosition().getTimestampMillis(), restored.getStartingPosition().getTimestampMillis());
    }

    @Test
    void absentOptionalFieldsStayAbsent() throws IOException {
        KinesisShardSplitSerializer serializer = KinesisShardSplitSerializer.INSTANCE;
        KinesisShardSplit restored =
                serializer.deserialize(1, serializer.serialize(
                        split("shardId-000000000000", null, StartingPosition.trimHorizon(), false)));

        assertEquals(List.of(), restored.getParentShardIds());
        assertNull(restored.getStartingPosition().getSequenceNumber());
        assertNull(restored.getStartingPosition().getTimestampMillis());
    }

    @Test
    void anUnknownVersionIsRefused() throws IOException {
        KinesisShardSplitSerializer serializer = KinesisShardSplitSerializer.INSTANCE;
        byte[] bytes = serializer.serialize(split("shardId-000000000000", List.of(), StartingPosition.trimHorizon(), false));

        for (int version : new int[] {0, 2}) {
            IOException refused = assertThrows(IOException.class, () -> serializer.deserialize(version, bytes));
            assertTrue(refused.getMessage().contains("version " + version), refused.getMessage());
        }
    }
}
