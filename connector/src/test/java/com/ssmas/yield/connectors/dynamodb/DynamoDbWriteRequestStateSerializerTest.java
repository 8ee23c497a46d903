package com.ssmas.yield.connectors.dynamodb;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.connector.base.sink.writer.BufferedRequestState;
import org.apache.flink.connector.base.sink.writer.RequestEntryWrapper;
import org.apache.flink.metrics.SimpleCounter;

import org.junit.jupiter.api.Test;

import software.amazon.awssdk.services.dynamodb.model.PutItemRequest;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The sink writer's buffer (floors not yet written when a checkpoint is taken) survives a restore
 * exactly, so a restored job writes the same items.
 */
class DynamoDbWriteRequestStateSerializerTest {

    private final DynamoDbWriteRequestStateSerializer serializer = new DynamoDbWriteRequestStateSerializer();

    private static DynamoDbWriteRequest floorPut(String segmentKey, String floorEur) {
        return new DynamoDbWriteRequest(
                DynamoDbWriteRequest.Type.PUT,
                new String[] {"level", "segment_key", "floor_eur", "filled"},
                new byte[] {DynamoDbWriteRequest.KIND_S, DynamoDbWriteRequest.KIND_S,
                        DynamoDbWriteRequest.KIND_N, DynamoDbWriteRequest.KIND_BOOL},
                new String[] {"segment", segmentKey, floorEur, "true"},
                "7:segment" + segmentKey.length() + ":" + segmentKey);
    }

    private BufferedRequestState<DynamoDbWriteRequest> roundTrip(List<DynamoDbWriteRequest> requests)
            throws IOException {
        List<RequestEntryWrapper<DynamoDbWriteRequest>> buffered = new ArrayList<>();
        for (DynamoDbWriteRequest r : requests) {
            buffered.add(new RequestEntryWrapper<>(r, r.sizeInBytes()));
        }
        return serializer.deserialize(serializer.getVersion(), serializer.serialize(new BufferedRequestState<>(buffered)));
    }

    private static List<DynamoDbWriteRequest> entries(BufferedRequestState<DynamoDbWriteRequest> state) {
        List<DynamoDbWriteRequest> out = new ArrayList<>();
        state.getBufferedRequestEntries().forEach(w -> out.add(w.getRequestEntry()));
        return out;
    }

    @Test
    void bufferedPutsAndDeletesComeBackInOrderWithTheirSizes() throws IOException {
        List<DynamoDbWriteRequest> requests = List.of(
                floorPut("DE|mobile|banner", "0.85"),
                new DynamoDbWriteRequest(DynamoDbWriteRequest.Type.DELETE,
                        new String[] {"level", "segment_key"},
                        new byte[] {DynamoDbWriteRequest.KIND_S, DynamoDbWriteRequest.KIND_S},
                        new String[] {"segment", "FR|desktop|video"},
                        "7:segment16:FR|desktop|video"),
                // text outside ASCII and the BMP, a long number, empty strings
                floorPut("JP|モバイル|\uD83D\uDCF1", "123456789012345678901234567890.000000001"),
                floorPut("", ""));

        BufferedRequestState<DynamoDbWriteRequest> restored = roundTrip(requests);

        assertEquals(requests, entries(restored));
        for (int i = 0; i < requests.size(); i++) {
            assertEquals(requests.get(i).sizeInBytes(), restored.getBufferedRequestEntries().get(i).getSize());
        }
    }

    @Test
    void aSinkWithoutKeyHasNoDedupKeyAndKeepsNone() throws IOException {
        DynamoDbWriteRequest appendOnly = new DynamoDbWriteRequest(DynamoDbWriteRequest.Type.PUT,
                new String[] {"impression_id"}, new byte[] {DynamoDbWriteRequest.KIND_S},
                new String[] {"imp-1"}, null);

        assertEquals(List.of(appendOnly), entries(roundTrip(List.of(appendOnly))));
    }

    @Test
    void anEmptyBufferRoundTrips() throws IOException {
        assertEquals(List.of(), entries(roundTrip(List.of())));
    }

    @Test
    void anUnknownVersionIsRefused() throws IOException {
        byte[] bytes = serializer.serialize(new BufferedRequestState<>(List.of(
                new RequestEntryWrapper<>(floorPut("DE|mobile|banner", "0.85"), 10L))));

        IOException refused = assertThrows(IOException.class, () -> serializer.deserialize(2, bytes));
        assertTrue(refused.getMessage().contains("version 2"), refused.getMessage());
    }

    /**
     * Conditional writes (sink.conditional-write.attribute) changed nothing in the buffer's form:
     * the condition is derived from the item when it is sent. A version 1 buffer written before
     * them (bytes kept here) restores, and its floor is then sent as a conditional put.
     */
    private static final String VERSION_1_BUFFER =
            "ffffffffffffffff000000010000000000000067010000000019343a66696e65" +
            "31363a44457c6d6f62696c657c62616e6e657200000004000000056c6576656c" +
            "530000000466696e650000000b7365676d656e745f6b6579530000001044457c" +
            "6d6f62696c657c62616e6e657200000009666c6f6f725f6575724e0000000430" +
            "2e38350000000a77696e646f775f656e645300000018323032362d31312d3235" +
            "5431353a30303a30302e3030305a";

    @Test
    void aBufferCheckpointedBeforeConditionalWritesRestoresAndIsWrittenConditionally() throws IOException {
        byte[] bytes = new byte[VERSION_1_BUFFER.length() / 2];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) Integer.parseInt(VERSION_1_BUFFER.substring(2 * i, 2 * i + 2), 16);
        }
        assertEquals(1, serializer.getVersion());

        List<DynamoDbWriteRequest> restored = entries(serializer.deserialize(1, bytes));

        DynamoDbWriteRequest floor = new DynamoDbWriteRequest(DynamoDbWriteRequest.Type.PUT,
                new String[] {"level", "segment_key", "floor_eur", "window_end"},
                new byte[] {DynamoDbWriteRequest.KIND_S, DynamoDbWriteRequest.KIND_S,
                        DynamoDbWriteRequest.KIND_N, DynamoDbWriteRequest.KIND_S},
                new String[] {"fine", "DE|mobile|banner", "0.85", "2026-11-25T15:00:00.000Z"},
                "4:fine16:DE|mobile|banner");
        assertEquals(List.of(floor), restored);
        assertArrayEquals(bytes, serializer.serialize(serializer.deserialize(1, bytes)));

        try (DynamoDbRequestSubmitter submitter = new DynamoDbRequestSubmitter(new FakeDynamoDb(), "floors",
                false, "level", "window_end", new SimpleCounter(), new SimpleCounter(), new SimpleCounter())) {
            PutItemRequest put = submitter.conditionalPut(restored.get(0));
            assertEquals(FakeDynamoDb.CONDITION, put.conditionExpression());
            assertEquals("2026-11-25T15:00:00.000Z", put.expressionAttributeValues().get(":a").s());
        }
    }
}
