package com.ssmas.yield.connectors.dynamodb;

import org.apache.flink.connector.base.sink.writer.ResultHandler;
import org.apache.flink.metrics.Counter;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.dynamodb.DynamoDbAsyncClient;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;
import software.amazon.awssdk.services.dynamodb.model.BatchWriteItemRequest;
import software.amazon.awssdk.services.dynamodb.model.BatchWriteItemResponse;
import software.amazon.awssdk.services.dynamodb.model.ConditionalCheckFailedException;
import software.amazon.awssdk.services.dynamodb.model.DeleteItemRequest;
import software.amazon.awssdk.services.dynamodb.model.DeleteRequest;
import software.amazon.awssdk.services.dynamodb.model.PutItemRequest;
import software.amazon.awssdk.services.dynamodb.model.PutRequest;
import software.amazon.awssdk.services.dynamodb.model.WriteRequest;

import java.util.ArrayList;
import java.util.Arrays;
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
import java.util.function.Supplier;

/**
 * Sends one batch of the async sink writer to DynamoDB and reports the outcome to the base
 * writer's {@link ResultHandler} exactly once. Kept apart from {@link DynamoDbSinkWriter} so it can
 * be tested with a fake client and no Flink runtime.
 *
 * <p>Two modes:
 *
 * <ul>
 *   <li>unconditional (no ordering attribute): one BatchWriteItem per batch; UnprocessedItems are
 *       handed back for retry.
 *   <li>conditional (ordering attribute set): BatchWriteItem cannot carry conditions, so the batch
 *       becomes one PutItem per item, all sent at once, each with {@code attribute_not_exists(#k)
 *       OR attribute_not_exists(#a) OR #a <= :a}. A replay of an older item therefore never
 *       overwrites a newer one; an equal one is rewritten (idempotent). A failed condition is a
 *       success (the stored item is newer): counted in {@code floorsSkippedAsOlder}, not retried.
 *       The base writer's bound on in-flight batches still bounds the puts in flight
 *       (max-inflight x batch size), and back-pressure is unchanged.
 * </ul>
 *
 * In both modes throttling, 5xx and network errors are retried after an exponential backoff (the
 * entries go back to the front of the base writer's buffer); errors no retry can fix fail the job.
 */
final class DynamoDbRequestSubmitter implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DynamoDbRequestSubmitter.class);

    static final long BASE_BACKOFF_MS = 100L;
    static final long MAX_BACKOFF_MS = 10_000L;

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

    private static final String CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException";

    private final DynamoDbAsyncClient client;
    private final String tableName;
    private final boolean failOnError;
    /** Partition key attribute (for attribute_not_exists); null in unconditional mode. */
    private final String keyAttribute;
    /** Ordering attribute; null = unconditional mode (BatchWriteItem). */
    private final String orderingAttribute;
    private final Counter writtenEntries;
    private final Counter retriedEntries;
    private final Counter skippedAsOlder;
    private final ScheduledExecutorService backoffScheduler;
    private final AtomicInteger consecutiveFailures = new AtomicInteger();

    DynamoDbRequestSubmitter(
            DynamoDbAsyncClient client,
            String tableName,
            boolean failOnError,
            String keyAttribute,
            String orderingAttribute,
            Counter writtenEntries,
            Counter retriedEntries,
            Counter skippedAsOlder) {
        if (orderingAttribute != null && keyAttribute == null) {
            throw new IllegalArgumentException("A conditional write needs the item's key attribute");
        }
        this.client = client;
        this.tableName = tableName;
        this.failOnError = failOnError;
        this.keyAttribute = keyAttribute;
        this.orderingAttribute = orderingAttribute;
        this.writtenEntries = writtenEntries;
        this.retriedEntries = retriedEntries;
        this.skippedAsOlder = skippedAsOlder;
        this.backoffScheduler =
                Executors.newSingleThreadScheduledExecutor(
                        r -> {
                            Thread t = new Thread(r, "dynamodb-sink-backoff-" + tableName);
                            t.setDaemon(true);
                            return t;
                        });
    }

    boolean isConditional() {
        return orderingAttribute != null;
    }

    void submit(List<DynamoDbWriteRequest> entries, ResultHandler<DynamoDbWriteRequest> handler) {
        List<DynamoDbWriteRequest> batch = deduplicate(entries);
        if (isConditional()) {
            submitConditional(batch, handler);
        } else {
            submitBatch(batch, handler);
        }
    }

    // ---------------------------------------------------------------- unconditional: BatchWriteItem

    private void submitBatch(List<DynamoDbWriteRequest> batch, ResultHandler<DynamoDbWriteRequest> handler) {
        List<WriteRequest> writes = new ArrayList<>(batch.size());
        for (DynamoDbWriteRequest entry : batch) {
            writes.add(toSdk(entry));
        }
        BatchWriteItemRequest request =
                BatchWriteItemRequest.builder().requestItems(Map.of(tableName, writes)).build();
        afterBackoff(() -> client.batchWriteItem(request))
                .whenComplete(
                        (response, error) -> {
                            if (error != null) {
                                handleFailure(error, batch, handler);
                            } else {
                                handleBatchResponse(response, batch, handler);
                            }
                        });
    }

    private void handleBatchResponse(
            BatchWriteItemResponse response,
            List<DynamoDbWriteRequest> batch,
            ResultHandler<DynamoDbWriteRequest> handler) {
        List<WriteRequest> unprocessed =
                response.hasUnprocessedItems()
                        ? response.unprocessedItems().getOrDefault(tableName, List.of())
                        : List.of();
        if (unprocessed.isEmpty()) {
            consecutiveFailures.set(0);
            writtenEntries.inc(batch.size());
            handler.complete();
            return;
        }
        // UnprocessedItems means DynamoDB is throttling this partition: back off like a failure
        consecutiveFailures.incrementAndGet();
        List<DynamoDbWriteRequest> retry = matchUnprocessed(unprocessed, batch);
        writtenEntries.inc(batch.size() - retry.size());
        retriedEntries.inc(retry.size());
        LOG.debug("{} of {} items unprocessed by DynamoDB; retrying", retry.size(), batch.size());
        handler.retryForEntries(retry);
    }

    private static List<DynamoDbWriteRequest> matchUnprocessed(
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

    // ---------------------------------------------------------------- conditional: PutItem each

    private enum Outcome {
        WRITTEN,
        SKIPPED,
        RETRY,
        FAILED
    }

    /** One item's result; {@code error} set for RETRY and FAILED. */
    private static final class ItemResult {
        final Outcome outcome;
        final Throwable error;

        ItemResult(Outcome outcome, Throwable error) {
            this.outcome = outcome;
            this.error = error;
        }
    }

    private void submitConditional(
            List<DynamoDbWriteRequest> batch, ResultHandler<DynamoDbWriteRequest> handler) {
        // keys are unique within a batch (deduplicate), so these puts never race on one item
        afterBackoff(() -> sendAll(batch))
                .whenComplete(
                        (results, error) -> {
                            if (error != null) { // not expected: sendAll never fails as a whole
                                handler.completeExceptionally(
                                        new DynamoDbSinkException("Writing to '" + tableName + "' failed", error));
                            } else {
                                handleConditionalResults(batch, results, handler);
                            }
                        });
    }

    private CompletableFuture<List<ItemResult>> sendAll(List<DynamoDbWriteRequest> batch) {
        List<CompletableFuture<ItemResult>> futures = new ArrayList<>(batch.size());
        for (DynamoDbWriteRequest entry : batch) {
            CompletableFuture<?> call;
            try {
                call = entry.getType() == DynamoDbWriteRequest.Type.DELETE
                        ? client.deleteItem(
                                DeleteItemRequest.builder().tableName(tableName).key(attributes(entry)).build())
                        : client.putItem(conditionalPut(entry));
            } catch (RuntimeException e) { // a client that throws instead of failing the future
                call = CompletableFuture.failedFuture(e);
            }
            futures.add(call.handle((r, e) -> classify(e)));
        }
        return CompletableFuture.allOf(futures.toArray(new CompletableFuture<?>[0]))
                .thenApply(
                        v -> {
                            List<ItemResult> results = new ArrayList<>(futures.size());
                            for (CompletableFuture<ItemResult> f : futures) {
                                results.add(f.join());
                            }
                            return results;
                        });
    }

    private ItemResult classify(Throwable error) {
        if (error == null) {
            return new ItemResult(Outcome.WRITTEN, null);
        }
        Throwable cause = unwrap(error);
        if (isConditionalCheckFailed(cause)) {
            return new ItemResult(Outcome.SKIPPED, null);
        }
        if (!failOnError && isRetryable(cause)) {
            return new ItemResult(Outcome.RETRY, cause);
        }
        return new ItemResult(Outcome.FAILED, cause);
    }

    private void handleConditionalResults(
            List<DynamoDbWriteRequest> batch,
            List<ItemResult> results,
            ResultHandler<DynamoDbWriteRequest> handler) {
        List<DynamoDbWriteRequest> retry = new ArrayList<>();
        int written = 0;
        int skipped = 0;
        Throwable retryCause = null;
        for (int i = 0; i < batch.size(); i++) {
            ItemResult r = results.get(i);
            switch (r.outcome) {
                case WRITTEN:
                    written++;
                    break;
                case SKIPPED:
                    skipped++;
                    break;
                case RETRY:
                    retry.add(batch.get(i));
                    retryCause = r.error;
                    break;
                case FAILED:
                default:
                    writtenEntries.inc(written);
                    skippedAsOlder.inc(skipped);
                    handler.completeExceptionally(
                            new DynamoDbSinkException(
                                    "Writing an item to DynamoDB table '"
                                            + tableName
                                            + "' failed"
                                            + (failOnError ? " (fail-on-error = true)" : " (not retryable)"),
                                    r.error));
                    return;
            }
        }
        writtenEntries.inc(written);
        skippedAsOlder.inc(skipped);
        if (retry.isEmpty()) {
            consecutiveFailures.set(0);
            handler.complete();
            return;
        }
        int failures = consecutiveFailures.incrementAndGet();
        retriedEntries.inc(retry.size());
        LOG.warn(
                "{} of {} conditional writes to '{}' failed (consecutive failures: {}), retrying: {}",
                retry.size(),
                batch.size(),
                tableName,
                failures,
                String.valueOf(retryCause));
        handler.retryForEntries(retry);
    }

    /**
     * The put of a whole item, written only if the stored item is absent, has no ordering value,
     * or an ordering value older than or equal to this one (equal: the same window rewritten).
     * An item without an ordering value only replaces one that has none either.
     */
    PutItemRequest conditionalPut(DynamoDbWriteRequest entry) {
        Map<String, AttributeValue> item = attributes(entry);
        AttributeValue order = item.get(orderingAttribute);
        PutItemRequest.Builder put = PutItemRequest.builder().tableName(tableName).item(item);
        if (order == null) {
            return put.conditionExpression("attribute_not_exists(#k) OR attribute_not_exists(#a)")
                    .expressionAttributeNames(Map.of("#k", keyAttribute, "#a", orderingAttribute))
                    .build();
        }
        return put.conditionExpression("attribute_not_exists(#k) OR attribute_not_exists(#a) OR #a <= :a")
                .expressionAttributeNames(Map.of("#k", keyAttribute, "#a", orderingAttribute))
                .expressionAttributeValues(Map.of(":a", order))
                .build();
    }

    static boolean isConditionalCheckFailed(Throwable cause) {
        if (cause instanceof ConditionalCheckFailedException) {
            return true;
        }
        if (cause instanceof AwsServiceException) {
            AwsServiceException e = (AwsServiceException) cause;
            return e.awsErrorDetails() != null
                    && CONDITIONAL_CHECK_FAILED.equals(e.awsErrorDetails().errorCode());
        }
        return false;
    }

    // ---------------------------------------------------------------- shared

    private void handleFailure(
            Throwable error, List<DynamoDbWriteRequest> batch, ResultHandler<DynamoDbWriteRequest> handler) {
        Throwable cause = unwrap(error);
        if (failOnError || !isRetryable(cause)) {
            handler.completeExceptionally(
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
        handler.retryForEntries(batch);
    }

    /** Runs the call at once, or after an exponential backoff (with jitter) while failures last. */
    private <T> CompletableFuture<T> afterBackoff(Supplier<CompletableFuture<T>> call) {
        int failures = consecutiveFailures.get();
        if (failures == 0) {
            return safely(call);
        }
        long delay = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS << Math.min(failures - 1, 10));
        delay = delay / 2 + ThreadLocalRandom.current().nextLong(delay / 2 + 1);
        CompletableFuture<T> target = new CompletableFuture<>();
        backoffScheduler.schedule(
                () ->
                        safely(call)
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
        return target;
    }

    private static <T> CompletableFuture<T> safely(Supplier<CompletableFuture<T>> call) {
        try {
            return call.get();
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private static Throwable unwrap(Throwable error) {
        Throwable cause = error;
        while (cause instanceof CompletionException && cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause;
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

    /** The BatchWriteItem entry of a buffered request. */
    static WriteRequest toSdk(DynamoDbWriteRequest entry) {
        Map<String, AttributeValue> attributes = attributes(entry);
        if (entry.getType() == DynamoDbWriteRequest.Type.DELETE) {
            return WriteRequest.builder()
                    .deleteRequest(DeleteRequest.builder().key(attributes).build())
                    .build();
        }
        return WriteRequest.builder().putRequest(PutRequest.builder().item(attributes).build()).build();
    }

    /** The item (PUT) or key (DELETE) of a buffered request. */
    static Map<String, AttributeValue> attributes(DynamoDbWriteRequest entry) {
        Map<String, AttributeValue> attributes = new HashMap<>(entry.size() * 2);
        for (int i = 0; i < entry.size(); i++) {
            attributes.put(entry.name(i), toAttribute(entry.kind(i), entry.value(i)));
        }
        return attributes;
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
    public void close() {
        backoffScheduler.shutdownNow();
        client.close();
    }
}
