package com.ssmas.yield.connectors.dynamodb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.connector.base.sink.writer.BufferedRequestState;
import org.apache.flink.connector.base.sink.writer.RequestEntryWrapper;

import org.junit.jupiter.api.Test;

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
}
