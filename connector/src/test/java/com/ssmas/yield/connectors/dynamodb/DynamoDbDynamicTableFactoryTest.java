package com.ssmas.yield.connectors.dynamodb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.CatalogTable;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ObjectIdentifier;
import org.apache.flink.table.catalog.ResolvedCatalogTable;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.catalog.UniqueConstraint;
import org.apache.flink.table.factories.FactoryUtil;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** {@code sink.conditional-write.attribute} as the job's floors_dynamodb DDL sets it, and its checks. */
class DynamoDbDynamicTableFactoryTest {

    private static final List<Column> FLOOR_COLUMNS = List.of(
            Column.physical("level", DataTypes.STRING().notNull()),
            Column.physical("segment_key", DataTypes.STRING().notNull()),
            Column.physical("floor_eur", DataTypes.DOUBLE()),
            Column.physical("window_end", DataTypes.STRING()),
            Column.physical("filled", DataTypes.BOOLEAN()));

    /** The options of schemas/sql/floors_dynamodb.sql. */
    private static Map<String, String> floorOptions() {
        Map<String, String> options = new HashMap<>();
        options.put("connector", "dynamodb");
        options.put("table-name", "floors");
        options.put("aws.region", "eu-west-1");
        options.put("sink.batch.max-size", "25");
        options.put("sink.flush-buffer.timeout", "200");
        options.put("sink.requests.max-inflight", "1");
        options.put("sink.conditional-write.attribute", "window_end");
        return options;
    }

    private static DynamoDbSink plan(Map<String, String> options, boolean withKey) {
        ResolvedSchema schema = new ResolvedSchema(
                FLOOR_COLUMNS, List.of(),
                withKey ? UniqueConstraint.primaryKey("pk", List.of("level", "segment_key")) : null);
        CatalogTable table = CatalogTable.newBuilder()
                .schema(Schema.newBuilder().fromResolvedSchema(schema).build())
                .options(options)
                .build();
        DynamoDbDynamicSink sink = (DynamoDbDynamicSink) FactoryUtil.createDynamicTableSink(
                null,
                ObjectIdentifier.of("default_catalog", "default_database", "floors_dynamodb"),
                new ResolvedCatalogTable(table, schema),
                Map.of(),
                new Configuration(),
                DynamoDbDynamicTableFactoryTest.class.getClassLoader(),
                false);
        return sink.sink();
    }

    private static String refusal(Map<String, String> options, boolean withKey) {
        ValidationException e = assertThrows(ValidationException.class, () -> plan(options, withKey));
        StringBuilder messages = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            messages.append(t.getMessage()).append('\n');
        }
        return messages.toString();
    }

    @Test
    void theFloorsDdlPlansAConditionalSink() {
        DynamoDbSink sink = plan(floorOptions(), true);
        assertEquals("window_end", sink.orderingAttribute());
        assertEquals("level", sink.keyAttribute());
        // one batch in flight, its 25 items as 25 concurrent puts
        assertEquals(25, sink.httpConcurrency());
    }

    @Test
    void withoutTheOptionTheSinkIsUnconditional() {
        Map<String, String> options = floorOptions();
        options.remove("sink.conditional-write.attribute");
        DynamoDbSink sink = plan(options, true);
        assertNull(sink.orderingAttribute());
        assertEquals(1, sink.httpConcurrency());
    }

    @Test
    void theOrderingAttributeMustBeAComparableNonKeyColumnOfAKeyedTable() {
        Map<String, String> options = floorOptions();
        options.put("sink.conditional-write.attribute", "window_ends");
        assertTrue(refusal(options, true).contains("'window_ends', which is not a physical column"));
        options.put("sink.conditional-write.attribute", "segment_key");
        assertTrue(refusal(options, true).contains("names the key column 'segment_key'"));
        options.put("sink.conditional-write.attribute", "filled");
        assertTrue(refusal(options, true).contains("must be a string, number, date or timestamp"));
        options.put("sink.conditional-write.attribute", "window_end");
        assertTrue(refusal(options, false).contains("needs an item key"));
    }
}
