package com.ssmas.yield.connectors.dynamodb;

import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.services.dynamodb.DynamoDbAsyncClient;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;
import software.amazon.awssdk.services.dynamodb.model.BatchWriteItemRequest;
import software.amazon.awssdk.services.dynamodb.model.BatchWriteItemResponse;
import software.amazon.awssdk.services.dynamodb.model.ConditionalCheckFailedException;
import software.amazon.awssdk.services.dynamodb.model.DeleteItemRequest;
import software.amazon.awssdk.services.dynamodb.model.DeleteItemResponse;
import software.amazon.awssdk.services.dynamodb.model.DynamoDbException;
import software.amazon.awssdk.services.dynamodb.model.PutItemRequest;
import software.amazon.awssdk.services.dynamodb.model.PutItemResponse;
import software.amazon.awssdk.services.dynamodb.model.WriteRequest;

import java.math.BigDecimal;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An in-memory DynamoDB table keyed by (level, segment_key) that evaluates the sink's condition
 * expressions as DynamoDB does, and fails calls on demand (throttling, 5xx, UnprocessedItems).
 */
final class FakeDynamoDb implements DynamoDbAsyncClient {

    static final String CONDITION =
            "attribute_not_exists(#k) OR attribute_not_exists(#a) OR #a <= :a";
    static final String CONDITION_WITHOUT_VALUE = "attribute_not_exists(#k) OR attribute_not_exists(#a)";

    final Map<String, Map<String, AttributeValue>> items = new ConcurrentHashMap<>();
    final AtomicInteger putCalls = new AtomicInteger();
    final AtomicInteger batchCalls = new AtomicInteger();
    final List<Integer> batchSizes = new ArrayList<>();
    /** Errors the next calls fail with, in order (any call: put, delete or batch). */
    private final Deque<RuntimeException> failNext = new ArrayDeque<>();
    /** Items the next BatchWriteItem call leaves unprocessed (the last ones of its request). */
    private int unprocessedOnNextBatch;

    synchronized void failNextCalls(int n, RuntimeException error) {
        for (int i = 0; i < n; i++) {
            failNext.add(error);
        }
    }

    synchronized void leaveUnprocessedOnNextBatch(int n) {
        unprocessedOnNextBatch = n;
    }

    private synchronized RuntimeException nextFailure() {
        return failNext.poll();
    }

    static String key(Map<String, AttributeValue> item) {
        return item.get("level").s() + "|" + item.get("segment_key").s();
    }

    Map<String, AttributeValue> get(String level, String segmentKey) {
        return items.get(level + "|" + segmentKey);
    }

    @Override
    public CompletableFuture<PutItemResponse> putItem(PutItemRequest request) {
        putCalls.incrementAndGet();
        RuntimeException failure = nextFailure();
        if (failure != null) {
            return CompletableFuture.failedFuture(failure);
        }
        String key = key(request.item());
        synchronized (items) {
            if (request.conditionExpression() != null && !conditionHolds(request, items.get(key))) {
                return CompletableFuture.failedFuture(
                        ConditionalCheckFailedException.builder()
                                .message("The conditional request failed")
                                .statusCode(400)
                                .awsErrorDetails(
                                        AwsErrorDetails.builder()
                                                .errorCode("ConditionalCheckFailedException")
                                                .build())
                                .build());
            }
            items.put(key, request.item());
        }
        return CompletableFuture.completedFuture(PutItemResponse.builder().build());
    }

    /** DynamoDB's semantics of the two expressions the sink sends (anything else is a test failure). */
    private static boolean conditionHolds(PutItemRequest request, Map<String, AttributeValue> stored) {
        String expression = request.conditionExpression();
        if (!expression.equals(CONDITION) && !expression.equals(CONDITION_WITHOUT_VALUE)) {
            throw new AssertionError("unexpected condition " + expression);
        }
        String k = request.expressionAttributeNames().get("#k");
        String a = request.expressionAttributeNames().get("#a");
        if (stored == null || !stored.containsKey(k) || !stored.containsKey(a)) {
            return true;
        }
        if (expression.equals(CONDITION_WITHOUT_VALUE)) {
            return false;
        }
        AttributeValue storedValue = stored.get(a);
        AttributeValue newValue = request.expressionAttributeValues().get(":a");
        if (storedValue.s() != null && newValue.s() != null) {
            return storedValue.s().compareTo(newValue.s()) <= 0;
        }
        if (storedValue.n() != null && newValue.n() != null) {
            return new BigDecimal(storedValue.n()).compareTo(new BigDecimal(newValue.n())) <= 0;
        }
        return false; // different types never compare
    }

    @Override
    public CompletableFuture<DeleteItemResponse> deleteItem(DeleteItemRequest request) {
        RuntimeException failure = nextFailure();
        if (failure != null) {
            return CompletableFuture.failedFuture(failure);
        }
        items.remove(key(request.key()));
        return CompletableFuture.completedFuture(DeleteItemResponse.builder().build());
    }

    @Override
    public CompletableFuture<BatchWriteItemResponse> batchWriteItem(BatchWriteItemRequest request) {
        batchCalls.incrementAndGet();
        RuntimeException failure = nextFailure();
        if (failure != null) {
            return CompletableFuture.failedFuture(failure);
        }
        Map.Entry<String, List<WriteRequest>> only = request.requestItems().entrySet().iterator().next();
        List<WriteRequest> writes = only.getValue();
        int unprocessed;
        synchronized (this) {
            batchSizes.add(writes.size());
            unprocessed = Math.min(unprocessedOnNextBatch, writes.size());
            unprocessedOnNextBatch = 0;
        }
        int processed = writes.size() - unprocessed;
        for (WriteRequest w : writes.subList(0, processed)) {
            if (w.putRequest() != null) {
                items.put(key(w.putRequest().item()), w.putRequest().item());
            } else {
                items.remove(key(w.deleteRequest().key()));
            }
        }
        BatchWriteItemResponse.Builder response = BatchWriteItemResponse.builder();
        if (unprocessed > 0) {
            // a copy, as the SDK would unmarshal it: equal to, not the same as, the request's entries
            List<WriteRequest> left = new ArrayList<>();
            for (WriteRequest w : writes.subList(processed, writes.size())) {
                left.add(w.toBuilder().build());
            }
            response.unprocessedItems(Map.of(only.getKey(), left));
        }
        return CompletableFuture.completedFuture(response.build());
    }

    static DynamoDbException throttling() {
        return (DynamoDbException) DynamoDbException.builder()
                .message("Rate exceeded")
                .statusCode(400)
                .awsErrorDetails(AwsErrorDetails.builder().errorCode("ThrottlingException").build())
                .build();
    }

    static DynamoDbException serverError() {
        return (DynamoDbException) DynamoDbException.builder()
                .message("Internal server error")
                .statusCode(500)
                .awsErrorDetails(AwsErrorDetails.builder().errorCode("InternalServerError").build())
                .build();
    }

    static DynamoDbException validation() {
        return (DynamoDbException) DynamoDbException.builder()
                .message("One or more parameter values were invalid")
                .statusCode(400)
                .awsErrorDetails(AwsErrorDetails.builder().errorCode("ValidationException").build())
                .build();
    }

    @Override
    public String serviceName() {
        return "dynamodb";
    }

    @Override
    public void close() {}
}
