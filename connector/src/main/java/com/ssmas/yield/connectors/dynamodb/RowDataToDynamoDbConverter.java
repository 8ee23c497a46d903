package com.ssmas.yield.connectors.dynamodb;

import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.connector.base.sink.writer.ElementConverter;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.types.RowKind;

import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;

/**
 * RowData -> {@link DynamoDbWriteRequest}. INSERT / UPDATE_AFTER become a put of the whole item
 * (NULL columns are left out of the item), DELETE becomes a delete of the key columns.
 *
 * <p>Types: CHAR/VARCHAR -> S; BOOLEAN -> BOOL; TINYINT..BIGINT, FLOAT, DOUBLE, DECIMAL -> N as a
 * plain decimal string; TIMESTAMP / TIMESTAMP_LTZ -> S, ISO-8601 UTC with millis and 'Z'; DATE ->
 * S (yyyy-MM-dd). Anything else is rejected at planning by {@link #validateType}.
 */
public class RowDataToDynamoDbConverter implements ElementConverter<RowData, DynamoDbWriteRequest> {

    private static final long serialVersionUID = 1L;

    private static final DateTimeFormatter ISO_MILLIS_UTC =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    private final String[] columnNames;
    private final LogicalType[] columnTypes;
    /** Indices of the item key columns (PRIMARY KEY or PARTITIONED BY); empty if none. */
    private final int[] keyIndices;

    public RowDataToDynamoDbConverter(
            String[] columnNames, LogicalType[] columnTypes, int[] keyIndices) {
        this.columnNames = columnNames;
        this.columnTypes = columnTypes;
        this.keyIndices = keyIndices;
    }

    /** Fails at planning for column types that have no mapping. */
    public static void validateType(String column, LogicalType type) {
        switch (type.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
            case BOOLEAN:
            case TINYINT:
            case SMALLINT:
            case INTEGER:
            case BIGINT:
            case FLOAT:
            case DOUBLE:
            case DECIMAL:
            case DATE:
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                return;
            default:
                throw new ValidationException(
                        "Column '"
                                + column
                                + "' has type "
                                + type.asSummaryString()
                                + ", which the 'dynamodb' sink does not support (supported: CHAR, "
                                + "VARCHAR, BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, "
                                + "DECIMAL, DATE, TIMESTAMP, TIMESTAMP_LTZ). Cast it in the query.");
        }
    }

    @Override
    public DynamoDbWriteRequest apply(RowData row, SinkWriter.Context context) {
        RowKind kind = row.getRowKind();
        String dedupKey = dedupKey(row);
        if (kind == RowKind.DELETE) {
            if (keyIndices.length == 0) {
                throw new IllegalStateException(
                        "DELETE received by a 'dynamodb' sink without PRIMARY KEY / PARTITIONED BY");
            }
            String[] names = new String[keyIndices.length];
            byte[] kinds = new byte[keyIndices.length];
            String[] values = new String[keyIndices.length];
            for (int k = 0; k < keyIndices.length; k++) {
                int i = keyIndices[k];
                names[k] = columnNames[i];
                kinds[k] = kindOf(columnTypes[i]);
                values[k] = valueOf(row, i);
            }
            return new DynamoDbWriteRequest(
                    DynamoDbWriteRequest.Type.DELETE, names, kinds, values, dedupKey);
        }
        List<Integer> present = new ArrayList<>(columnNames.length);
        for (int i = 0; i < columnNames.length; i++) {
            if (!row.isNullAt(i)) {
                present.add(i);
            }
        }
        String[] names = new String[present.size()];
        byte[] kinds = new byte[present.size()];
        String[] values = new String[present.size()];
        for (int k = 0; k < present.size(); k++) {
            int i = present.get(k);
            names[k] = columnNames[i];
            kinds[k] = kindOf(columnTypes[i]);
            values[k] = valueOf(row, i);
        }
        return new DynamoDbWriteRequest(DynamoDbWriteRequest.Type.PUT, names, kinds, values, dedupKey);
    }

    private String dedupKey(RowData row) {
        if (keyIndices.length == 0) {
            return null;
        }
        StringBuilder sb = new StringBuilder();
        for (int i : keyIndices) {
            if (row.isNullAt(i)) {
                throw new IllegalArgumentException(
                        "Key column '" + columnNames[i] + "' is NULL; DynamoDB items need a key.");
            }
            String v = valueOf(row, i);
            // length-prefixed so that ("a|b","c") and ("a","b|c") differ
            sb.append(v.length()).append(':').append(v);
        }
        return sb.toString();
    }

    private static byte kindOf(LogicalType type) {
        switch (type.getTypeRoot()) {
            case BOOLEAN:
                return DynamoDbWriteRequest.KIND_BOOL;
            case TINYINT:
            case SMALLINT:
            case INTEGER:
            case BIGINT:
            case FLOAT:
            case DOUBLE:
            case DECIMAL:
                return DynamoDbWriteRequest.KIND_N;
            default:
                return DynamoDbWriteRequest.KIND_S;
        }
    }

    private String valueOf(RowData row, int i) {
        LogicalType type = columnTypes[i];
        switch (type.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
                return row.getString(i).toString();
            case BOOLEAN:
                return Boolean.toString(row.getBoolean(i));
            case TINYINT:
                return Byte.toString(row.getByte(i));
            case SMALLINT:
                return Short.toString(row.getShort(i));
            case INTEGER:
                return Integer.toString(row.getInt(i));
            case BIGINT:
                return Long.toString(row.getLong(i));
            case FLOAT:
                return finiteNumber(i, row.getFloat(i), new BigDecimal(Float.toString(row.getFloat(i))));
            case DOUBLE:
                return finiteNumber(i, row.getDouble(i), null);
            case DECIMAL:
                {
                    int precision = org.apache.flink.table.types.logical.utils.LogicalTypeChecks
                            .getPrecision(type);
                    int scale = org.apache.flink.table.types.logical.utils.LogicalTypeChecks
                            .getScale(type);
                    DecimalData d = row.getDecimal(i, precision, scale);
                    return d.toBigDecimal().toPlainString();
                }
            case DATE:
                return LocalDate.ofEpochDay(row.getInt(i)).toString();
            case TIMESTAMP_WITHOUT_TIME_ZONE:
                {
                    TimestampData ts =
                            row.getTimestamp(
                                    i,
                                    org.apache.flink.table.types.logical.utils.LogicalTypeChecks
                                            .getPrecision(type));
                    return ISO_MILLIS_UTC.format(ts.toLocalDateTime().toInstant(ZoneOffset.UTC));
                }
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE:
                {
                    TimestampData ts =
                            row.getTimestamp(
                                    i,
                                    org.apache.flink.table.types.logical.utils.LogicalTypeChecks
                                            .getPrecision(type));
                    return ISO_MILLIS_UTC.format(ts.toInstant());
                }
            default:
                throw new IllegalStateException("Unsupported type " + type);
        }
    }

    private String finiteNumber(int i, double value, BigDecimal exact) {
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            throw new IllegalArgumentException(
                    "Column '"
                            + columnNames[i]
                            + "' is "
                            + value
                            + ", which DynamoDB numbers cannot hold.");
        }
        BigDecimal bd = exact != null ? exact : BigDecimal.valueOf(value);
        String plain = bd.stripTrailingZeros().toPlainString();
        return plain;
    }
}
