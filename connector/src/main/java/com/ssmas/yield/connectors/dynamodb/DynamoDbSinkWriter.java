package com.ssmas.yield.connectors.dynamodb;

import com.ssmas.yield.connectors.AwsClientFactory;

import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.connector.base.sink.writer.AsyncSinkWriter;
import org.apache.flink.connector.base.sink.writer.BufferedRequestState;
import org.apache.flink.connector.base.sink.writer.ElementConverter;
import org.apache.flink.connector.base.sink.writer.ResultHandler;
import org.apache.flink.connector.base.sink.writer.config.AsyncSinkWriterConfiguration;
import org.apache.flink.metrics.Counter;
import org.apache.flink.table.data.RowData;
import org.apache.flink.types.RowKind;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.dynamodb.DynamoDbAsyncClient;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;
import software.amazon.awssdk.services.dynamodb.model.BatchWriteItemRequest;
import software.amazon.awssdk.services.dynamodb.model.BatchWriteItemResponse;
import software.amazon.awssdk.services.dynamodb.model.DeleteRequest;
import software.amazon.awssdk.services.dynamodb.model.PutRequest;
import software.amazon.awssdk.services.dynamodb.model.WriteRequest;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Writes buffered requests with BatchWriteItem. Within a batch the last request per item key
 * wins (BatchWriteItem rejects two writes to one key). UnprocessedItems and retryable failures are
 * handed back to the base writer (which re-queues them at the front of its buffer) after an
 * exponential backoff; nothing is dropped. The base writer flushes the buffer before a checkpoint.
 */
public class DynamoDbSinkWriter extends AsyncSinkWriter<RowData, DynamoDbWriteRequest> {

    private static final Logger LOG = LoggerFactory.getLogger(DynamoDbSinkWriter.class);

    private static final long BASE_BACKOFF_MS = 100L;
    private static final long MAX_BACKOFF_MS = 10_000L;

    private static final Set<String> RETRYABLE_ERROR_CODES =
            new HashSet<>(
                    Arrays.asList(
                            "ProvisionedThroughputExceededException",
                            "ThrottlingException",
                            "RequestLimitExceeded",
                            "InternalServerError",
                            "ServiceUnavailable",
                            "TransactionInProgressException",
                            "LimitExceededException"));

    private final String tableName;
    private final boolean failOnError;
    private final DynamoDbAsyncClient client;
    private final ScheduledExecutorService backoffScheduler;
    private final AtomicInteger consecutiveFailures = new AtomicInteger();
    private final Counter retriedEntries;
    private final Counter writtenEntries;

    public DynamoDbSinkWriter(
            ElementConverter<RowData, DynamoDbWriteRequest> converter,
            WriterInitContext context,
            AsyncSinkWriterConfiguration configuration,
            Collection<BufferedRequestState<DynamoDbWriteRequest>> restored,
            String tableName,
            boolean failOnError,
            AwsClientFactory aws,
            int maxInFlight) {
        super(converter, context, configuration, restored);
        this.tableName = tableName;
        this.failOnError = failOnError;
        this.client = aws.createDynamoDbClient(maxInFlight);
        this.backoffScheduler =
                Executors.newSingleThreadScheduledExecutor(
                        r -> {
                            Thread t = new Thread(r, "dynamodb-sink-backoff-" + tableName);
                            t.setDaemon(true);
                            return t;
                        });
        this.retriedEntries = context.metricGroup().addGroup("dynamodb").counter("retriedEntries");
        this.writtenEntries = context.metricGroup().addGroup("dynamodb").counter("writtenEntries");
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
        List<DynamoDbWriteRequest> batch = deduplicate(requestEntries);
        List<WriteRequest> writes = new ArrayList<>(batch.size());
        for (DynamoDbWriteRequest entry : batch) {
            writes.add(toSdk(entry));
        }
        BatchWriteItemRequest request =
                BatchWriteItemRequest.builder()
                        .requestItems(Map.of(tableName, writes))
                        .build();

        int failures = consecutiveFailures.get();
        CompletableFuture<BatchWriteItemResponse> future;
        if (failures == 0) {
            future = client.batchWriteItem(request);
        } else {
            long delay = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS << Math.min(failures - 1, 10));
            delay = delay / 2 + ThreadLocalRandom.current().nextLong(delay / 2 + 1);
            future = new CompletableFuture<>();
            CompletableFuture<BatchWriteItemResponse> target = future;
            backoffScheduler.schedule(
                    () ->
                            client.batchWriteItem(request)
                                    .whenComplete(
                                            (r, e) -> {
                                                if (e != null) {
                                                    target.completeExceptionally(e);
                                                } else {
                                                    target.complete(r);
                                                }
                                            }),
                    delay,
                    TimeUnit.MILLISECONDS);
        }
        future.whenComplete(
                (response, error) -> {
                    if (error != null) {
                        handleFailure(error, batch, resultHandler);
                    } else {
                        handleResponse(response, batch, resultHandler);
                    }
                });
    }

    /** Keeps the last request per key, in first-seen key order. */
    static List<DynamoDbWriteRequest> deduplicate(List<DynamoDbWriteRequest> entries) {
        if (entries.isEmpty() || entries.get(0).getDedupKey() == null) {
            return entries;
        }
        LinkedHashMap<String, DynamoDbWriteRequest> byKey = new LinkedHashMap<>();
        for (DynamoDbWriteRequest entry : entries) {
            byKey.put(entry.getDedupKey(), entry);
        }
        return byKey.size() == entries.size() ? entries : new ArrayList<>(byKey.values());
    }

    private void handleResponse(
            BatchWriteItemResponse response,
            List<DynamoDbWriteRequest> batch,
            ResultHandler<DynamoDbWriteRequest> resultHandler) {
        List<WriteRequest> unprocessed =
                response.hasUnprocessedItems()
                        ? response.unprocessedItems().getOrDefault(tableName, List.of())
                        : List.of();
        if (unprocessed.isEmpty()) {
            consecutiveFailures.set(0);
            writtenEntries.inc(batch.size());
            resultHandler.complete();
            return;
        }
        consecutiveFailures.incrementAndGet();
        List<DynamoDbWriteRequest> retry = matchUnprocessed(unprocessed, batch);
        writtenEntries.inc(batch.size() - retry.size());
        retriedEntries.inc(retry.size());
        LOG.debug("{} of {} items unprocessed by DynamoDB; retrying", retry.size(), batch.size());
        resultHandler.retryForEntries(retry);
    }

    private List<DynamoDbWriteRequest> matchUnprocessed(
            List<WriteRequest> unprocessed, List<DynamoDbWriteRequest> batch) {
        Map<WriteRequest, DynamoDbWriteRequest> bySdk = new HashMap<>();
        for (DynamoDbWriteRequest entry : batch) {
            bySdk.put(toSdk(entry), entry);
        }
        List<DynamoDbWriteRequest> retry = new ArrayList<>(unprocessed.size());
        for (WriteRequest w : unprocessed) {
            DynamoDbWriteRequest entry = bySdk.get(w);
            if (entry == null) {
                // cannot tell which entry it was: retry the whole batch (idempotent upserts)
                return batch;
            }
            retry.add(entry);
        }
        return retry;
    }

    private void handleFailure(
            Throwable error,
            List<DynamoDbWriteRequest> batch,
            ResultHandler<DynamoDbWriteRequest> resultHandler) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null
                ? error.getCause()
                : error;
        if (failOnError || !isRetryable(cause)) {
            resultHandler.completeExceptionally(
                    new DynamoDbSinkException(
                            "Writing "
                                    + batch.size()
                                    + " items to DynamoDB table '"
                                    + tableName
                                    + "' failed"
                                    + (failOnError ? " (fail-on-error = true)" : " (not retryable)"),
                            cause));
            return;
        }
        int failures = consecutiveFailures.incrementAndGet();
        retriedEntries.inc(batch.size());
        LOG.warn(
                "BatchWriteItem to '{}' failed (consecutive failures: {}), retrying {} items: {}",
                tableName,
                failures,
                batch.size(),
                cause.toString());
        resultHandler.retryForEntries(batch);
    }

    static boolean isRetryable(Throwable cause) {
        if (cause instanceof AwsServiceException) {
            AwsServiceException e = (AwsServiceException) cause;
            String code = e.awsErrorDetails() == null ? null : e.awsErrorDetails().errorCode();
            return e.isThrottlingException()
                    || e.statusCode() >= 500
                    || (code != null && RETRYABLE_ERROR_CODES.contains(code));
        }
        // connection refused, timeouts, broken connections...
        return cause instanceof SdkClientException || cause instanceof java.io.IOException;
    }

    /** The BatchWriteItem entry of a buffered request (package-private for tests). */
    static WriteRequest toSdk(DynamoDbWriteRequest entry) {
        Map<String, AttributeValue> attributes = new HashMap<>(entry.size() * 2);
        for (int i = 0; i < entry.size(); i++) {
            attributes.put(entry.name(i), toAttribute(entry.kind(i), entry.value(i)));
        }
        if (entry.getType() == DynamoDbWriteRequest.Type.DELETE) {
            return WriteRequest.builder()
                    .deleteRequest(DeleteRequest.builder().key(attributes).build())
                    .build();
        }
        return WriteRequest.builder().putRequest(PutRequest.builder().item(attributes).build()).build();
    }

    private static AttributeValue toAttribute(byte kind, String value) {
        switch (kind) {
            case DynamoDbWriteRequest.KIND_N:
                return AttributeValue.builder().n(value).build();
            case DynamoDbWriteRequest.KIND_BOOL:
                return AttributeValue.builder().bool(Boolean.parseBoolean(value)).build();
            case DynamoDbWriteRequest.KIND_S:
            default:
                return AttributeValue.builder().s(value).build();
        }
    }

    @Override
    protected long getSizeInBytes(DynamoDbWriteRequest requestEntry) {
        return requestEntry.sizeInBytes();
    }

    @Override
    public void close() {
        super.close();
        backoffScheduler.shutdownNow();
        client.close();
    }

}
