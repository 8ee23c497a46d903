package com.ssmas.yield.connectors.dynamodb;

import org.apache.flink.table.types.logical.BigIntType;
import org.apache.flink.table.types.logical.DoubleType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.VarCharType;

/**
 * A floors table for the sink's tests: the columns of floors_dynamodb
 * (schemas/sql/floors_dynamodb.sql) without its policy column, key (level, segment_key).
 */
final class FloorTable {

    static final String[] COLUMNS = {
        "level", "segment_key", "floor_eur", "predicted_cpm_eur", "model_version",
        "window_start", "window_end", "data_points", "expires_at"};
    static final LogicalType[] TYPES = {
        new VarCharType(VarCharType.MAX_LENGTH), new VarCharType(VarCharType.MAX_LENGTH),
        new DoubleType(), new DoubleType(), new VarCharType(VarCharType.MAX_LENGTH),
        new VarCharType(VarCharType.MAX_LENGTH), new VarCharType(VarCharType.MAX_LENGTH),
        new BigIntType(), new BigIntType()};
    static final int[] KEY = {0, 1};

    private FloorTable() {}

    static RowDataToDynamoDbConverter converter() {
        return new RowDataToDynamoDbConverter(COLUMNS, TYPES, KEY);
    }
}
