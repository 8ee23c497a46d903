package com.ssmas.yield.connectors.dynamodb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.connector.base.sink.writer.ResultHandler;
import org.apache.flink.metrics.SimpleCounter;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.types.RowKind;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import software.amazon.awssdk.services.dynamodb.model.AttributeValue;
import software.amazon.awssdk.services.dynamodb.model.PutItemRequest;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Floors never go backwards: with an ordering attribute (window_end) a replayed older floor is
 * skipped and counted, a newer or equal one is written; throttling, 5xx and UnprocessedItems are
 * retried until written. Against {@link FakeDynamoDb}, driving the submitter as the base async
 * sink writer does (re-submitting what it hands back for retry).
 */
class DynamoDbRequestSubmitterTest {

    private static final RowDataToDynamoDbConverter CONVERTER = FloorTable.converter();

    private static final String SEGMENT = "DE|mobile|banner";

    private final FakeDynamoDb dynamo = new FakeDynamoDb();
    private final SimpleCounter written = new SimpleCounter();
    private final SimpleCounter retried = new SimpleCounter();
    private final SimpleCounter skipped = new SimpleCounter();
    private DynamoDbRequestSubmitter submitter;

    private DynamoDbRequestSubmitter conditional() {
        submitter = new DynamoDbRequestSubmitter(
                dynamo, "floors", false, "level", "window_end", written, retried, skipped);
        return submitter;
    }

    private DynamoDbRequestSubmitter unconditional() {
        submitter = new DynamoDbRequestSubmitter(
                dynamo, "floors", false, null, null, written, retried, skipped);
        return submitter;
    }

    @AfterEach
    void close() {
        if (submitter != null) {
            submitter.close();
        }
    }

    /** The floor of one hourly window starting at {@code hour} (UTC, 2026-11-25). */
    private static DynamoDbWriteRequest floor(String segment, int hour, double floorEur) {
        return floor(segment, String.format("2026-11-25T%02d:00:00.000Z", hour),
                String.format("2026-11-25T%02d:00:00.000Z", hour + 1), floorEur);
    }

    private static DynamoDbWriteRequest floor(String segment, String start, String end, double floorEur) {
        return CONVERTER.apply(GenericRowData.ofKind(RowKind.UPDATE_AFTER,
                StringData.fromString("segment"),
                StringData.fromString(segment),
                floorEur,
                floorEur * 1.4,
                StringData.fromString("v-2026-11-25"),
                start == null ? null : StringData.fromString(start),
                end == null ? null : StringData.fromString(end),
                100L,
                1764550800L), null);
    }

    private Map<String, AttributeValue> stored(String segment) {
        return dynamo.get("segment", segment);
    }

    private double floorEur(String segment) {
        return Double.parseDouble(stored(segment).get("floor_eur").n());
    }

    /** What the submitter reported for one submission. */
    private static final class Recorder implements ResultHandler<DynamoDbWriteRequest> {
        final CompletableFuture<Object> result = new CompletableFuture<>();

        @Override
        public void complete() {
            result.complete("complete");
        }

        @Override
        public void completeExceptionally(Exception e) {
            result.complete(e);
        }

        @Override
        public void retryForEntries(List<DynamoDbWriteRequest> requestEntriesToRetry) {
            result.complete(new ArrayList<>(requestEntriesToRetry));
        }
    }

    private static Object submitOnce(DynamoDbRequestSubmitter s, List<DynamoDbWriteRequest> batch)
            throws Exception {
        Recorder r = new Recorder();
        s.submit(batch, r);
        return r.result.get(30, TimeUnit.SECONDS);
    }

    /** Submits like the base writer: what comes back for retry is submitted again. */
    private static Drive drive(DynamoDbRequestSubmitter s, List<DynamoDbWriteRequest> batch)
            throws Exception {
        Drive d = new Drive();
        List<DynamoDbWriteRequest> next = batch;
        for (int round = 0; round < 20; round++) {
            long start = System.nanoTime();
            Object outcome = submitOnce(s, next);
            d.roundMillis.add((System.nanoTime() - start) / 1_000_000);
            if (!(outcome instanceof List)) {
                d.outcome = outcome;
                return d;
            }
            @SuppressWarnings("unchecked")
            List<DynamoDbWriteRequest> retry = (List<DynamoDbWriteRequest>) outcome;
            d.retries.add(retry);
            next = retry;
        }
        throw new AssertionError("still retrying after 20 rounds");
    }

    private static final class Drive {
        Object outcome;
        final List<List<DynamoDbWriteRequest>> retries = new ArrayList<>();
        final List<Long> roundMillis = new ArrayList<>();
    }

    // ------------------------------------------------------------------ conditional writes

    @Test
    void aNewerFloorReplacesAnOlderOne() throws Exception {
        conditional();
        assertEquals("complete", drive(submitter, List.of(floor(SEGMENT, 14, 0.80))).outcome);
        assertEquals("complete", drive(submitter, List.of(floor(SEGMENT, 15, 0.90))).outcome);

        assertEquals(0.9, floorEur(SEGMENT));
        assertEquals("2026-11-25T16:00:00.000Z", stored(SEGMENT).get("window_end").s());
        assertEquals(2, written.getCount());
        assertEquals(0, skipped.getCount());
        assertEquals(0, dynamo.batchCalls.get()); // conditional mode never uses BatchWriteItem
    }

    @Test
    void anOlderFloorReplayedOverANewerOneIsSkippedAndCounted() throws Exception {
        conditional();
        drive(submitter, List.of(floor(SEGMENT, 15, 0.90)));
        // a replay (old snapshot, TRIM_HORIZON restart, backfill) of the previous window
        Drive replay = drive(submitter, List.of(floor(SEGMENT, 14, 0.80)));

        assertEquals("complete", replay.outcome); // a skip is a success: nothing to retry
        assertTrue(replay.retries.isEmpty());
        assertEquals(0.9, floorEur(SEGMENT));
        assertEquals("2026-11-25T16:00:00.000Z", stored(SEGMENT).get("window_end").s());
        assertEquals(1, skipped.getCount());
        assertEquals(1, written.getCount());
        assertEquals(0, retried.getCount());
    }

    @Test
    void theSameWindowIsRewritten() throws Exception {
        conditional();
        drive(submitter, List.of(floor(SEGMENT, 15, 0.90)));
        // equal window_end: the idempotent rewrite of a replay, or an updated floor of the window
        assertEquals("complete", drive(submitter, List.of(floor(SEGMENT, 15, 0.95))).outcome);

        assertEquals(0.95, floorEur(SEGMENT));
        assertEquals(2, written.getCount());
        assertEquals(0, skipped.getCount());
    }

    @Test
    void aBatchBecomesOneConditionalPutPerItem() throws Exception {
        conditional();
        drive(submitter, List.of(floor("A", 15, 1.0), floor("B", 15, 1.0)));
        Drive mixed = drive(submitter, List.of(
                floor("A", 16, 2.0), // newer: written
                floor("B", 14, 2.0), // older: skipped
                floor("C", 14, 2.0), // absent: written
                floor("A", 17, 3.0))); // same key later in the batch: the last write wins

        assertEquals("complete", mixed.outcome);
        assertEquals(2 + 3, dynamo.putCalls.get());
        assertEquals(3.0, floorEur("A"));
        assertEquals(1.0, floorEur("B"));
        assertEquals(2.0, floorEur("C"));
        assertEquals(1, skipped.getCount());
        assertEquals(4, written.getCount());
    }

    @Test
    void thePutCarriesTheConditionOnTheOrderingAttribute() {
        conditional();
        PutItemRequest put = submitter.conditionalPut(floor(SEGMENT, 15, 0.9));
        assertEquals(FakeDynamoDb.CONDITION, put.conditionExpression());
        assertEquals(Map.of("#k", "level", "#a", "window_end"), put.expressionAttributeNames());
        assertEquals(Map.of(":a", AttributeValue.builder().s("2026-11-25T16:00:00.000Z").build()),
                put.expressionAttributeValues());
        assertEquals("floors", put.tableName());
    }

    @Test
    void aFloorWithoutAnOrderingValueNeverReplacesAnOrderedOne() throws Exception {
        conditional();
        drive(submitter, List.of(floor(SEGMENT, 15, 0.90)));
        assertEquals("complete", drive(submitter, List.of(floor(SEGMENT, null, null, 0.10))).outcome);
        assertEquals(0.9, floorEur(SEGMENT));
        assertEquals(1, skipped.getCount());
        // where nothing is stored it is written
        drive(submitter, List.of(floor("other", null, null, 0.10)));
        assertEquals(0.1, floorEur("other"));
    }

    @Test
    void throttledAndFailedPutsAreRetriedWithBackoffUntilWritten() throws Exception {
        conditional();
        drive(submitter, List.of(floor("B", 16, 9.0)));
        dynamo.failNextCalls(1, FakeDynamoDb.throttling());
        dynamo.failNextCalls(1, FakeDynamoDb.serverError());
        dynamo.failNextCalls(1, FakeDynamoDb.throttling());
        // first round: A is throttled, B gets a 500; second: A is throttled again, B is skipped
        // (the stored B is newer); third: A is written
        Drive d = drive(submitter, List.of(floor("A", 15, 1.0), floor("B", 15, 1.0)));

        assertEquals("complete", d.outcome);
        assertEquals(List.of(List.of(floor("A", 15, 1.0), floor("B", 15, 1.0)), List.of(floor("A", 15, 1.0))),
                d.retries);
        // retried rounds wait: >= 50 ms (100 ms with jitter), then >= 100 ms (200 ms with jitter)
        assertTrue(d.roundMillis.get(1) >= 50, "backoff " + d.roundMillis);
        assertTrue(d.roundMillis.get(2) >= 100, "backoff " + d.roundMillis);
        assertEquals(1.0, floorEur("A"));
        assertEquals(9.0, floorEur("B")); // the retried older floor is still skipped
        assertEquals(3, retried.getCount());
        assertEquals(1, skipped.getCount());
        assertEquals(2, written.getCount());
    }

    @Test
    void anErrorNoRetryCanFixFailsTheBatch() throws Exception {
        conditional();
        dynamo.failNextCalls(1, FakeDynamoDb.validation());
        Object outcome = submitOnce(submitter, List.of(floor("A", 15, 1.0), floor("B", 15, 1.0)));
        assertInstanceOf(DynamoDbSinkException.class, outcome);
        assertEquals("ValidationException",
                ((software.amazon.awssdk.awscore.exception.AwsServiceException) ((Exception) outcome).getCause())
                        .awsErrorDetails().errorCode());
    }

    @Test
    void failOnErrorFailsOnThrottlingButNotOnASkip() throws Exception {
        submitter = new DynamoDbRequestSubmitter(
                dynamo, "floors", true, "level", "window_end", written, retried, skipped);
        drive(submitter, List.of(floor(SEGMENT, 15, 0.9)));
        assertEquals("complete", submitOnce(submitter, List.of(floor(SEGMENT, 14, 0.8))));
        dynamo.failNextCalls(1, FakeDynamoDb.throttling());
        assertInstanceOf(DynamoDbSinkException.class, submitOnce(submitter, List.of(floor(SEGMENT, 16, 1.0))));
    }

    @Test
    void deletesStayUnconditional() throws Exception {
        conditional();
        drive(submitter, List.of(floor(SEGMENT, 15, 0.9)));
        DynamoDbWriteRequest delete = CONVERTER.apply(GenericRowData.ofKind(RowKind.DELETE,
                StringData.fromString("segment"), StringData.fromString(SEGMENT),
                null, null, null, null, null, null, null), null);
        assertEquals("complete", drive(submitter, List.of(delete)).outcome);
        assertNull(stored(SEGMENT));
    }

    // ------------------------------------------------------------------ unconditional (BatchWriteItem)

    @Test
    void withoutAnOrderingAttributeABatchIsOneBatchWriteItem() throws Exception {
        unconditional();
        drive(submitter, List.of(floor(SEGMENT, 15, 0.9)));
        drive(submitter, List.of(floor(SEGMENT, 14, 0.8), floor("other", 14, 0.8)));
        assertEquals(2, dynamo.batchCalls.get());
        assertEquals(0, dynamo.putCalls.get());
        assertEquals(0.8, floorEur(SEGMENT)); // unconditional: last write wins
    }

    @Test
    void unprocessedItemsAreRetriedUntilWritten() throws Exception {
        unconditional();
        List<DynamoDbWriteRequest> batch = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            batch.add(floor("seg-" + i, 15, i));
        }
        dynamo.leaveUnprocessedOnNextBatch(2);
        Drive d = drive(submitter, batch);

        assertEquals("complete", d.outcome);
        assertEquals(List.of(batch.subList(3, 5)), d.retries); // exactly the unprocessed ones
        assertEquals(List.of(5, 2), dynamo.batchSizes);
        assertTrue(d.roundMillis.get(1) >= 50, "backoff " + d.roundMillis);
        for (int i = 0; i < 5; i++) {
            assertEquals(i, floorEur("seg-" + i));
        }
        assertEquals(5, written.getCount());
        assertEquals(2, retried.getCount());
    }

    @Test
    void aThrottledBatchWriteItemIsRetriedWhole() throws Exception {
        unconditional();
        dynamo.failNextCalls(2, FakeDynamoDb.throttling());
        List<DynamoDbWriteRequest> batch = List.of(floor("A", 15, 1.0), floor("B", 15, 1.0));
        Drive d = drive(submitter, batch);
        assertEquals("complete", d.outcome);
        assertEquals(List.of(batch, batch), d.retries);
        assertEquals(3, dynamo.batchCalls.get());
        assertEquals(4, retried.getCount());
        assertEquals(2, written.getCount());
        assertSame(null, skipped.getCount() == 0 ? null : "skipped");
    }
}
