package com.ssmas.yield.connectors.dynamodb;

import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;
import org.apache.flink.table.connector.sink.abilities.SupportsPartitioning;
import org.apache.flink.types.RowKind;

import java.util.Map;

/** Table-API face of {@link DynamoDbSink}: upsert when the table has an item key, else append. */
public class DynamoDbDynamicSink implements DynamicTableSink, SupportsPartitioning {

    private final DynamoDbSink sink;
    private final boolean hasKey;
    private final String tableName;

    public DynamoDbDynamicSink(DynamoDbSink sink, boolean hasKey, String tableName) {
        this.sink = sink;
        this.hasKey = hasKey;
        this.tableName = tableName;
    }

    DynamoDbSink sink() {
        return sink;
    }

    @Override
    public ChangelogMode getChangelogMode(ChangelogMode requestedMode) {
        if (!hasKey) {
            return ChangelogMode.insertOnly();
        }
        return ChangelogMode.newBuilder()
                .addContainedKind(RowKind.INSERT)
                .addContainedKind(RowKind.UPDATE_AFTER)
                .addContainedKind(RowKind.DELETE)
                .build();
    }

    @Override
    public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
        return SinkV2Provider.of(sink);
    }

    @Override
    public void applyStaticPartition(Map<String, String> partition) {
        // PARTITIONED BY only names the item key columns; there are no static partitions
    }

    @Override
    public DynamicTableSink copy() {
        return new DynamoDbDynamicSink(sink, hasKey, tableName);
    }

    @Override
    public String asSummaryString() {
        return "DynamoDB(" + tableName + ")";
    }
}
