package com.ssmas.yield.connectors.dynamodb;

import com.ssmas.yield.connectors.AwsClientFactory;
import com.ssmas.yield.connectors.AwsConfigOptions;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.catalog.UniqueConstraint;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code 'connector' = 'dynamodb'}: BatchWriteItem (or, with {@code
 * sink.conditional-write.attribute}, conditional PutItem) sink with the option names of the official
 * flink-sql-connector-dynamodb. The item key (for DELETE and for de-duplication within a batch)
 * is the PRIMARY KEY if declared, else the PARTITIONED BY columns.
 */
public class DynamoDbDynamicTableFactory implements DynamicTableSinkFactory {

    public static final String IDENTIFIER = "dynamodb";

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        Set<ConfigOption<?>> options = new HashSet<>();
        options.add(DynamoDbConnectorOptions.TABLE_NAME);
        options.add(AwsConfigOptions.AWS_REGION);
        return options;
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        Set<ConfigOption<?>> options = new HashSet<>(AwsConfigOptions.optionalClientOptions());
        options.add(DynamoDbConnectorOptions.FAIL_ON_ERROR);
        options.add(DynamoDbConnectorOptions.CONDITIONAL_WRITE_ATTRIBUTE);
        options.add(DynamoDbConnectorOptions.MAX_BATCH_SIZE);
        options.add(DynamoDbConnectorOptions.MAX_IN_FLIGHT_REQUESTS);
        options.add(DynamoDbConnectorOptions.MAX_BUFFERED_REQUESTS);
        options.add(DynamoDbConnectorOptions.FLUSH_BUFFER_SIZE);
        options.add(DynamoDbConnectorOptions.FLUSH_BUFFER_TIMEOUT);
        return options;
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        helper.validate();
        ReadableConfig options = helper.getOptions();

        ResolvedSchema schema = context.getCatalogTable().getResolvedSchema();
        List<Column> columns = new ArrayList<>();
        for (Column c : schema.getColumns()) {
            if (c.isPhysical()) {
                columns.add(c);
            }
        }
        String[] names = new String[columns.size()];
        LogicalType[] types = new LogicalType[columns.size()];
        for (int i = 0; i < columns.size(); i++) {
            names[i] = columns.get(i).getName();
            types[i] = columns.get(i).getDataType().getLogicalType();
            RowDataToDynamoDbConverter.validateType(names[i], types[i]);
        }

        List<String> keyColumns =
                schema.getPrimaryKey()
                        .map(UniqueConstraint::getColumns)
                        .orElse(context.getCatalogTable().getPartitionKeys());
        int[] keyIndices = new int[keyColumns.size()];
        for (int k = 0; k < keyColumns.size(); k++) {
            int idx = indexOf(names, keyColumns.get(k));
            if (idx < 0) {
                throw new ValidationException(
                        "Key column '" + keyColumns.get(k) + "' is not a physical column.");
            }
            keyIndices[k] = idx;
        }
        if (keyIndices.length > 2) {
            throw new ValidationException(
                    "A DynamoDB item key has at most 2 attributes (partition + sort key), but "
                            + "the table declares "
                            + keyColumns);
        }

        int maxBatch =
                options.getOptional(DynamoDbConnectorOptions.MAX_BATCH_SIZE)
                        .orElse(DynamoDbConnectorOptions.DEFAULT_MAX_BATCH_SIZE);
        if (maxBatch < 1 || maxBatch > 25) {
            throw new ValidationException(
                    "Option 'sink.batch.max-size' must be in 1..25 (BatchWriteItem limit), got "
                            + maxBatch);
        }
        int maxInFlight =
                positive(
                        options,
                        DynamoDbConnectorOptions.MAX_IN_FLIGHT_REQUESTS,
                        DynamoDbConnectorOptions.DEFAULT_MAX_IN_FLIGHT_REQUESTS);
        int maxBuffered =
                positive(
                        options,
                        DynamoDbConnectorOptions.MAX_BUFFERED_REQUESTS,
                        DynamoDbConnectorOptions.DEFAULT_MAX_BUFFERED_REQUESTS);
        long maxBatchBytes =
                options.getOptional(DynamoDbConnectorOptions.FLUSH_BUFFER_SIZE)
                        .orElse(DynamoDbConnectorOptions.DEFAULT_MAX_BATCH_SIZE_IN_BYTES);
        long maxTimeInBuffer =
                options.getOptional(DynamoDbConnectorOptions.FLUSH_BUFFER_TIMEOUT)
                        .orElse(DynamoDbConnectorOptions.DEFAULT_MAX_TIME_IN_BUFFER_MS);
        if (maxBuffered < maxBatch) {
            throw new ValidationException(
                    "Option 'sink.requests.max-buffered' ("
                            + maxBuffered
                            + ") must be >= 'sink.batch.max-size' ("
                            + maxBatch
                            + ").");
        }
        String orderingAttribute =
                options.getOptional(DynamoDbConnectorOptions.CONDITIONAL_WRITE_ATTRIBUTE)
                        .orElse(null);
        if (orderingAttribute != null) {
            validateOrderingAttribute(orderingAttribute, names, types, keyIndices);
        }
        String tableName = options.get(DynamoDbConnectorOptions.TABLE_NAME);
        DynamoDbSink sink =
                new DynamoDbSink(
                        new RowDataToDynamoDbConverter(names, types, keyIndices),
                        maxBatch,
                        maxInFlight,
                        maxBuffered,
                        maxBatchBytes,
                        maxTimeInBuffer,
                        tableName,
                        options.get(DynamoDbConnectorOptions.FAIL_ON_ERROR),
                        AwsClientFactory.fromOptions(options),
                        keyIndices.length > 0 ? names[keyIndices[0]] : null,
                        orderingAttribute);
        return new DynamoDbDynamicSink(sink, keyIndices.length > 0, tableName);
    }

    /**
     * The ordering attribute must be a non-key column DynamoDB can compare in order: a string
     * (CHAR/VARCHAR, TIMESTAMP and DATE are ISO-8601 text) or a number; and the sink needs an item
     * key (the condition tests whether the item exists).
     */
    private static void validateOrderingAttribute(
            String attribute, String[] names, LogicalType[] types, int[] keyIndices) {
        String option = DynamoDbConnectorOptions.CONDITIONAL_WRITE_ATTRIBUTE.key();
        if (keyIndices.length == 0) {
            throw new ValidationException(
                    "Option '" + option + "' needs an item key (PRIMARY KEY or PARTITIONED BY).");
        }
        int idx = indexOf(names, attribute);
        if (idx < 0) {
            throw new ValidationException(
                    "Option '" + option + "' names '" + attribute + "', which is not a physical column.");
        }
        for (int k : keyIndices) {
            if (k == idx) {
                throw new ValidationException(
                        "Option '" + option + "' names the key column '" + attribute
                                + "'; it must be a non-key column.");
            }
        }
        // Every column already has a supported type (validateType); of those, only BOOLEAN has no order.
        if (types[idx].getTypeRoot() == LogicalTypeRoot.BOOLEAN) {
            throw new ValidationException(
                    "Option '" + option + "' names '" + attribute + "' of type " + types[idx]
                            + "; the ordering attribute must be a string, number, date or timestamp.");
        }
    }

    private static int positive(ReadableConfig options, ConfigOption<Integer> option, int dflt) {
        int value = options.getOptional(option).orElse(dflt);
        if (value < 1) {
            throw new ValidationException(
                    "Option '" + option.key() + "' must be positive, got " + value);
        }
        return value;
    }

    private static int indexOf(String[] names, String name) {
        for (int i = 0; i < names.length; i++) {
            if (names[i].equals(name)) {
                return i;
            }
        }
        return -1;
    }
}
