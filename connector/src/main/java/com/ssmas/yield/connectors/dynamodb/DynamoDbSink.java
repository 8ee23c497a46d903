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

/** Async (BatchWriteItem) DynamoDB sink for RowData with upsert semantics. */
public class DynamoDbSink extends AsyncSinkBase<RowData, DynamoDbWriteRequest> {

    private static final long serialVersionUID = 1L;

    private final String tableName;
    private final boolean failOnError;
    private final AwsClientFactory aws;

    public DynamoDbSink(
            ElementConverter<RowData, DynamoDbWriteRequest> converter,
            int maxBatchSize,
            int maxInFlightRequests,
            int maxBufferedRequests,
            long maxBatchSizeInBytes,
            long maxTimeInBufferMs,
            String tableName,
            boolean failOnError,
            AwsClientFactory aws) {
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
                getMaxInFlightRequests());
    }

    @Override
    public SimpleVersionedSerializer<BufferedRequestState<DynamoDbWriteRequest>>
            getWriterStateSerializer() {
        return new DynamoDbWriteRequestStateSerializer();
    }
}
