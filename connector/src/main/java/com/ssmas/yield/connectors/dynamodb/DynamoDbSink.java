package com.ssmas.yield.connectors.dynamodb;

import com.ssmas.yield.connectors.AwsClientFactory;

import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.connector.base.sink.AsyncSinkBase;
import org.apache.flink.connector.base.sink.writer.BufferedRequestState;
import org.apache.flink.connector.base.sink.writer.ElementConverter;
import org.apache.flink.connector.base.sink.writer.config.AsyncSinkWriterConfiguration;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.table.data.RowData;

import java.util.Collection;
import java.util.Collections;

/**
 * Async DynamoDB sink for RowData with upsert semantics: BatchWriteItem, or conditional PutItems
 * (an older item never replaces a newer one) when an ordering attribute is configured.
 */
public class DynamoDbSink extends AsyncSinkBase<RowData, DynamoDbWriteRequest> {

    private static final long serialVersionUID = 1L;

    private final String tableName;
    private final boolean failOnError;
    private final AwsClientFactory aws;
    /** Partition key attribute; used by conditional writes. */
    private final String keyAttribute;
    /** Ordering attribute of conditional writes; null = unconditional BatchWriteItem. */
    private final String orderingAttribute;

    /** Upper bound on HTTP connections of a conditional-write client (puts beyond it queue). */
    static final int MAX_CONDITIONAL_CONNECTIONS = 256;

    public DynamoDbSink(
            ElementConverter<RowData, DynamoDbWriteRequest> converter,
            int maxBatchSize,
            int maxInFlightRequests,
            int maxBufferedRequests,
            long maxBatchSizeInBytes,
            long maxTimeInBufferMs,
            String tableName,
            boolean failOnError,
            AwsClientFactory aws,
            String keyAttribute,
            String orderingAttribute) {
        super(
                converter,
                maxBatchSize,
                maxInFlightRequests,
                maxBufferedRequests,
                maxBatchSizeInBytes,
                maxTimeInBufferMs,
                DynamoDbConnectorOptions.MAX_RECORD_SIZE_IN_BYTES);
        this.tableName = tableName;
        this.failOnError = failOnError;
        this.aws = aws;
        this.keyAttribute = keyAttribute;
        this.orderingAttribute = orderingAttribute;
    }

    @Override
    public StatefulSinkWriter<RowData, BufferedRequestState<DynamoDbWriteRequest>> createWriter(
            WriterInitContext context) {
        return restoreWriter(context, Collections.emptyList());
    }

    @Override
    public StatefulSinkWriter<RowData, BufferedRequestState<DynamoDbWriteRequest>> restoreWriter(
            WriterInitContext context,
            Collection<BufferedRequestState<DynamoDbWriteRequest>> recoveredState) {
        AsyncSinkWriterConfiguration config =
                AsyncSinkWriterConfiguration.builder()
                        .setMaxBatchSize(getMaxBatchSize())
                        .setMaxBatchSizeInBytes(getMaxBatchSizeInBytes())
                        .setMaxInFlightRequests(getMaxInFlightRequests())
                        .setMaxBufferedRequests(getMaxBufferedRequests())
                        .setMaxTimeInBufferMS(getMaxTimeInBufferMS())
                        .setMaxRecordSizeInBytes(getMaxRecordSizeInBytes())
                        .build();
        return new DynamoDbSinkWriter(
                getElementConverter(),
                context,
                config,
                recoveredState,
                tableName,
                failOnError,
                aws,
                httpConcurrency(),
                keyAttribute,
                orderingAttribute);
    }

    String keyAttribute() {
        return keyAttribute;
    }

    String orderingAttribute() {
        return orderingAttribute;
    }

    /**
     * One connection per in-flight call: a BatchWriteItem per in-flight batch, or (conditional
     * mode) one PutItem per item of every in-flight batch, capped.
     */
    int httpConcurrency() {
        if (orderingAttribute == null) {
            return getMaxInFlightRequests();
        }
        long puts = (long) getMaxInFlightRequests() * getMaxBatchSize();
        return (int) Math.min(MAX_CONDITIONAL_CONNECTIONS, puts);
    }

    @Override
    public SimpleVersionedSerializer<BufferedRequestState<DynamoDbWriteRequest>>
            getWriterStateSerializer() {
        return new DynamoDbWriteRequestStateSerializer();
    }
}
