package com.ssmas.yield.connectors.dynamodb;

import com.ssmas.yield.connectors.AwsClientFactory;

import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.connector.base.sink.writer.AsyncSinkWriter;
import org.apache.flink.connector.base.sink.writer.BufferedRequestState;
import org.apache.flink.connector.base.sink.writer.ElementConverter;
import org.apache.flink.connector.base.sink.writer.ResultHandler;
import org.apache.flink.connector.base.sink.writer.config.AsyncSinkWriterConfiguration;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.data.RowData;
import org.apache.flink.types.RowKind;

import software.amazon.awssdk.services.dynamodb.DynamoDbAsyncClient;
import software.amazon.awssdk.services.dynamodb.model.WriteRequest;

import java.util.Collection;
import java.util.List;

/**
 * The async sink writer: the base writer buffers, batches, bounds in-flight batches and flushes
 * before a checkpoint; {@link DynamoDbRequestSubmitter} sends each batch (BatchWriteItem, or
 * conditional PutItems when an ordering attribute is configured) and hands back what must be
 * retried. Within a batch the last request per item key wins.
 */
public class DynamoDbSinkWriter extends AsyncSinkWriter<RowData, DynamoDbWriteRequest> {

    /** Metric group of the sink's counters (under the sink writer's group). */
    static final String METRIC_GROUP = "dynamodb";

    private final DynamoDbRequestSubmitter submitter;

    public DynamoDbSinkWriter(
            ElementConverter<RowData, DynamoDbWriteRequest> converter,
            WriterInitContext context,
            AsyncSinkWriterConfiguration configuration,
            Collection<BufferedRequestState<DynamoDbWriteRequest>> restored,
            String tableName,
            boolean failOnError,
            AwsClientFactory aws,
            int httpConcurrency,
            String keyAttribute,
            String orderingAttribute) {
        this(converter, context, configuration, restored, tableName, failOnError,
                aws.createDynamoDbClient(httpConcurrency), keyAttribute, orderingAttribute);
    }

    /** With a given client (tests: a fake DynamoDB). */
    DynamoDbSinkWriter(
            ElementConverter<RowData, DynamoDbWriteRequest> converter,
            WriterInitContext context,
            AsyncSinkWriterConfiguration configuration,
            Collection<BufferedRequestState<DynamoDbWriteRequest>> restored,
            String tableName,
            boolean failOnError,
            DynamoDbAsyncClient client,
            String keyAttribute,
            String orderingAttribute) {
        super(converter, context, configuration, restored);
        MetricGroup metrics = context.metricGroup().addGroup(METRIC_GROUP);
        this.submitter =
                new DynamoDbRequestSubmitter(
                        client,
                        tableName,
                        failOnError,
                        keyAttribute,
                        orderingAttribute,
                        metrics.counter("writtenEntries"),
                        metrics.counter("retriedEntries"),
                        // a replayed floor older than the stored one (conditional mode only)
                        metrics.counter("floorsSkippedAsOlder"));
    }

    @Override
    public void write(RowData element, Context context)
            throws java.io.IOException, InterruptedException {
        if (element.getRowKind() == RowKind.UPDATE_BEFORE) {
            return; // upsert sink: the UPDATE_AFTER carries the new item
        }
        super.write(element, context);
    }

    @Override
    protected void submitRequestEntries(
            List<DynamoDbWriteRequest> requestEntries,
            ResultHandler<DynamoDbWriteRequest> resultHandler) {
        submitter.submit(requestEntries, resultHandler);
    }

    /** Keeps the last request per key, in first-seen key order. */
    static List<DynamoDbWriteRequest> deduplicate(List<DynamoDbWriteRequest> entries) {
        return DynamoDbRequestSubmitter.deduplicate(entries);
    }

    /** The BatchWriteItem entry of a buffered request (package-private for tests). */
    static WriteRequest toSdk(DynamoDbWriteRequest entry) {
        return DynamoDbRequestSubmitter.toSdk(entry);
    }

    @Override
    protected long getSizeInBytes(DynamoDbWriteRequest requestEntry) {
        return requestEntry.sizeInBytes();
    }

    @Override
    public void close() {
        super.close();
        submitter.close();
    }
}
