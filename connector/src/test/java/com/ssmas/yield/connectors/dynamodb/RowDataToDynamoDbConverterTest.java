package com.ssmas.yield.connectors.dynamodb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.logical.ArrayType;
import org.apache.flink.table.types.logical.BigIntType;
import org.apache.flink.table.types.logical.BooleanType;
import org.apache.flink.table.types.logical.DateType;
import org.apache.flink.table.types.logical.DecimalType;
import org.apache.flink.table.types.logical.DoubleType;
import org.apache.flink.table.types.logical.FloatType;
import org.apache.flink.table.types.logical.IntType;
import org.apache.flink.table.types.logical.LocalZonedTimestampType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.SmallIntType;
import org.apache.flink.table.types.logical.TimestampType;
import org.apache.flink.table.types.logical.TinyIntType;
import org.apache.flink.table.types.logical.VarCharType;
import org.apache.flink.types.RowKind;

import org.junit.jupiter.api.Test;

import software.amazon.awssdk.services.dynamodb.model.AttributeValue;
import software.amazon.awssdk.services.dynamodb.model.WriteRequest;

import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.List;
import java.util.Map;

/** The DynamoDB item the sink writes for a row: attribute names, types and values. */
class RowDataToDynamoDbConverterTest {

    private final RowDataToDynamoDbConverter floors = FloorTable.converter();

    private static GenericRowData floorRow(RowKind kind, String modelVersion) {
        return GenericRowData.ofKind(kind,
                StringData.fromString("segment"),
                StringData.fromString("DE|mobile|banner"),
                0.85,
                1.2,
                modelVersion == null ? null : StringData.fromString(modelVersion),
                StringData.fromString("2026-11-25T14:00:00.000Z"),
                StringData.fromString("2026-11-25T15:00:00.000Z"),
                1234L,
                1764550800L);
    }

    /** The item as BatchWriteItem sends it. */
    private static Map<String, AttributeValue> item(DynamoDbWriteRequest request) {
        WriteRequest write = DynamoDbSinkWriter.toSdk(request);
        return write.putRequest() != null ? write.putRequest().item() : write.deleteRequest().key();
    }

    @Test
    void aFloorBecomesAPutOfTheWholeItem() {
        DynamoDbWriteRequest request = floors.apply(floorRow(RowKind.INSERT, "v-2026-11-25"), null);

        assertEquals(DynamoDbWriteRequest.Type.PUT, request.getType());
        Map<String, AttributeValue> item = item(request);
        assertEquals(9, item.size());
        assertEquals(AttributeValue.fromS("segment"), item.get("level"));
        assertEquals(AttributeValue.fromS("DE|mobile|banner"), item.get("segment_key"));
        assertEquals(AttributeValue.fromN("0.85"), item.get("floor_eur"));
        assertEquals(AttributeValue.fromN("1.2"), item.get("predicted_cpm_eur"));
        assertEquals(AttributeValue.fromS("v-2026-11-25"), item.get("model_version"));
        assertEquals(AttributeValue.fromS("2026-11-25T14:00:00.000Z"), item.get("window_start"));
        assertEquals(AttributeValue.fromN("1234"), item.get("data_points"));
        assertEquals(AttributeValue.fromN("1764550800"), item.get("expires_at"));
    }

    @Test
    void aNullColumnIsLeftOutOfTheItem() {
        DynamoDbWriteRequest request = floors.apply(floorRow(RowKind.UPDATE_AFTER, null), null);

        Map<String, AttributeValue> item = item(request);
        assertEquals(8, item.size());
        assertFalse(item.containsKey("model_version"));
        assertEquals(DynamoDbWriteRequest.Type.PUT, request.getType());
    }

    @Test
    void aDeleteNamesOnlyTheKey() {
        DynamoDbWriteRequest request = floors.apply(floorRow(RowKind.DELETE, "v1"), null);

        assertEquals(DynamoDbWriteRequest.Type.DELETE, request.getType());
        assertEquals(Map.of("level", AttributeValue.fromS("segment"),
                        "segment_key", AttributeValue.fromS("DE|mobile|banner")),
                item(request));
    }

    @Test
    void aNullKeyColumnIsRefusedNamingTheColumn() {
        GenericRowData row = floorRow(RowKind.INSERT, "v1");
        row.setField(1, null);

        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class, () -> floors.apply(row, null));
        assertTrue(refused.getMessage().contains("segment_key"), refused.getMessage());
    }

    @Test
    void theDedupKeyTellsApartKeysThatJoinToTheSameText() {
        RowDataToDynamoDbConverter twoKeys = new RowDataToDynamoDbConverter(
                new String[] {"a", "b"},
                new LogicalType[] {new VarCharType(10), new VarCharType(10)},
                new int[] {0, 1});
        String first = twoKeys.apply(GenericRowData.of(StringData.fromString("x|y"), StringData.fromString("z")), null)
                .getDedupKey();
        String second = twoKeys.apply(GenericRowData.of(StringData.fromString("x"), StringData.fromString("y|z")), null)
                .getDedupKey();

        assertFalse(first.equals(second), first + " vs " + second);
        assertNull(new RowDataToDynamoDbConverter(new String[] {"a"}, new LogicalType[] {new IntType()}, new int[0])
                .apply(GenericRowData.of(1), null).getDedupKey(), "no key: append-only, nothing to de-duplicate");
    }

    @Test
    void everySupportedTypeHasItsDynamoDbForm() {
        String[] names = {"flag", "tiny", "small", "count", "ratio", "cpm", "price",
                "at", "at_ltz", "day", "huge", "tiny_double"};
        LogicalType[] types = {new BooleanType(), new TinyIntType(), new SmallIntType(), new IntType(),
                new FloatType(), new DoubleType(), new DecimalType(10, 4),
                new TimestampType(3), new LocalZonedTimestampType(3), new DateType(),
                new DoubleType(), new DoubleType()};
        GenericRowData row = GenericRowData.of(
                true, (byte) -7, (short) 300, 42, 0.1f, 2.50,
                DecimalData.fromBigDecimal(new BigDecimal("1.2300"), 10, 4),
                TimestampData.fromLocalDateTime(LocalDateTime.parse("2024-05-01T10:00:00.123456")),
                TimestampData.fromEpochMillis(1_714_557_600_123L),
                (int) LocalDate.parse("2024-05-01").toEpochDay(),
                1e20, 1e-7);

        Map<String, AttributeValue> item =
                item(new RowDataToDynamoDbConverter(names, types, new int[0]).apply(row, null));

        assertEquals(AttributeValue.fromBool(true), item.get("flag"));
        assertEquals(AttributeValue.fromN("-7"), item.get("tiny"));
        assertEquals(AttributeValue.fromN("300"), item.get("small"));
        assertEquals(AttributeValue.fromN("42"), item.get("count"));
        assertEquals(AttributeValue.fromN("0.1"), item.get("ratio"), "a FLOAT as written, not 0.100000001");
        assertEquals(AttributeValue.fromN("2.5"), item.get("cpm"));
        assertEquals(AttributeValue.fromN("1.2300"), item.get("price"), "a DECIMAL keeps its scale");
        assertEquals(AttributeValue.fromS("2024-05-01T10:00:00.123Z"), item.get("at"), "UTC, millis");
        assertEquals(AttributeValue.fromS("2024-05-01T10:00:00.123Z"), item.get("at_ltz"));
        assertEquals(AttributeValue.fromS("2024-05-01"), item.get("day"));
        assertEquals(AttributeValue.fromN("100000000000000000000"), item.get("huge"), "never an exponent");
        assertEquals(AttributeValue.fromN("0.0000001"), item.get("tiny_double"));
    }

    @Test
    void aNumberDynamoDbCannotHoldIsRefusedNamingTheColumn() {
        GenericRowData row = floorRow(RowKind.INSERT, "v1");
        row.setField(2, Double.NaN);

        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class, () -> floors.apply(row, null));
        assertTrue(refused.getMessage().contains("floor_eur"), refused.getMessage());
    }

    @Test
    void anUnsupportedColumnTypeFailsAtPlanning() {
        ValidationException refused = assertThrows(ValidationException.class,
                () -> RowDataToDynamoDbConverter.validateType("cells", new ArrayType(new BigIntType())));
        assertTrue(refused.getMessage().contains("'cells'"), refused.getMessage());
    }

    @Test
    void withinABatchTheLastWritePerKeyWins() {
        DynamoDbWriteRequest older = floors.apply(floorRow(RowKind.INSERT, "v1"), null);
        DynamoDbWriteRequest other = floors.apply(GenericRowData.ofKind(RowKind.INSERT,
                StringData.fromString("segment"), StringData.fromString("FR|desktop|video"),
                0.5, 0.6, null, null, null, 1L, 2L), null);
        DynamoDbWriteRequest newer = floors.apply(floorRow(RowKind.UPDATE_AFTER, "v2"), null);

        assertEquals(List.of(newer, other), DynamoDbSinkWriter.deduplicate(List.of(older, other, newer)));
    }
}
