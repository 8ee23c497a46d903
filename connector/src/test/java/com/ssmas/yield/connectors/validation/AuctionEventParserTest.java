package com.ssmas.yield.connectors.validation;

import static com.ssmas.yield.connectors.validation.AuctionEvents.validEventJson;
import static com.ssmas.yield.connectors.validation.AuctionEvents.validEventWith;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.ssmas.yield.connectors.RecordingMetricGroup;

import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;

/**
 * AUCTION_PARSE gives one row per record (reason + typed fields) and counts the job's
 * recordsRead / recordsAccepted / recordsRejected; AUCTION_EVENT_TIME and AUCTION_REJECT_REASON
 * give the same verdict from the same schema.
 */
class AuctionEventParserTest {

    private final RecordingMetricGroup metrics = new RecordingMetricGroup();
    private final List<Row> rows = new ArrayList<>();

    private AuctionEventParser openedParser() {
        AuctionEventParser parser = new AuctionEventParser();
        parser.open(new FunctionContext(null) {
            @Override
            public MetricGroup getMetricGroup() {
                return metrics;
            }
        });
        parser.setCollector(new Collector<>() {
            @Override
            public void collect(Row row) {
                rows.add(row);
            }

            @Override
            public void close() {}
        });
        return parser;
    }

    /** Column position of a typed field in the parser's output row (0 is the reject reason). */
    private static int column(String name) {
        List<EventSchema.Field> fields = AuctionEventParser.typedFields(EventSchema.fromClasspath());
        for (int i = 0; i < fields.size(); i++) {
            if (fields.get(i).name.equals(name)) {
                return i + 1;
            }
        }
        throw new AssertionError("no column " + name);
    }

    @Test
    void aValidEventBecomesTypedColumnsWithoutEventTime() {
        openedParser().eval(validEventJson());

        Row row = rows.get(0);
        assertNull(row.getField(0), "no reject reason");
        assertEquals("imp-0001", row.getField(column("impression_id")));
        assertEquals("mobile", row.getField(column("device_category")));
        assertEquals(3, row.getField(column("bid_count")));
        assertEquals(0.5, row.getField(column("user_engagement_score")));
        assertEquals(true, row.getField(column("filled")));
        assertEquals(0.95, row.getField(column("cpm_eur")));
        assertFalse(AuctionEventParser.typedFields(EventSchema.fromClasspath()).stream()
                .anyMatch(f -> f.name.equals("event_time")), "event_time comes from the source table");
    }

    @Test
    void aRejectedRecordHasOnlyItsReason() {
        openedParser().eval(validEventWith(e -> e.put("device_category", "smartwatch")));

        Row row = rows.get(0);
        assertEquals("UNKNOWN_VALUE:device_category", row.getField(0));
        for (int i = 1; i < row.getArity(); i++) {
            assertNull(row.getField(i));
        }
    }

    @Test
    void everyRecordIsCountedAsReadAndAsAcceptedOrRejectedByReason() {
        AuctionEventParser parser = openedParser();
        parser.eval(validEventJson());
        parser.eval("not json");
        parser.eval(validEventWith(e -> e.remove("country")));
        parser.eval("not json either");

        assertEquals(4, metrics.count("kinesisanalytics.recordsRead"));
        assertEquals(1, metrics.count("kinesisanalytics.recordsAccepted"));
        assertEquals(3, metrics.count("kinesisanalytics.recordsRejected"));
        assertEquals(2, metrics.count("kinesisanalytics.RejectReason.NOT_JSON.recordsRejected"));
        assertEquals(1, metrics.count("kinesisanalytics.RejectReason.MISSING_FIELD:country.recordsRejected"));
    }

    @Test
    void theEventTimeOfAValidEventIsItsUtcTimeAndNullOtherwise() {
        AuctionEventTime eventTime = new AuctionEventTime(); // works without open(), as at planning

        assertEquals(LocalDateTime.parse("2026-11-25T14:03:07.123"), eventTime.eval(validEventJson()));
        assertEquals(LocalDateTime.parse("2026-11-25T14:03:07.200"),
                eventTime.eval(validEventWith(e -> e.put("event_time", "2026-11-25T14:03:07.2Z"))));
        assertNull(eventTime.eval(validEventWith(e -> e.put("event_time", "2026-02-30T00:00:00Z"))));
        assertNull(eventTime.eval(validEventWith(e -> e.remove("country"))), "a rejected record has no event time");
    }

    @Test
    void aRejectedRecordsRowTimeIsTheNewestAcceptedEventTimeSoItNeitherHoldsNorPushesTheWatermark() {
        AuctionRowTime rowTime = new AuctionRowTime();
        String future = validEventWith(e -> e.put("event_time", "9999-12-31T23:59:59Z"));
        assertEquals(LocalDateTime.parse("1970-01-01T00:00:00"), rowTime.eval("garbage"), "nothing accepted yet");
        assertEquals(LocalDateTime.parse("1970-01-01T00:00:00"), rowTime.eval(future));
        assertEquals(LocalDateTime.parse("2026-11-25T14:03:07.123"), rowTime.eval(validEventJson()));
        assertEquals(LocalDateTime.parse("2026-11-25T14:00:00"),
                rowTime.eval(validEventWith(e -> e.put("event_time", "2026-11-25T14:00:00Z"))), "an older valid event");
        assertEquals(LocalDateTime.parse("2026-11-25T14:03:07.123"), rowTime.eval(future),
                "a future-dated record follows the newest accepted time, it does not jump ahead");
        assertEquals(LocalDateTime.parse("2026-11-25T14:03:07.123"), rowTime.eval(null));
    }

    @Test
    void theFunctionsBuiltWithATolerancePutAFutureEventTimeInQuarantine() {
        String inTenMinutes = validEventWith(e -> e.put("event_time",
                Instant.now().plus(Duration.ofMinutes(10)).truncatedTo(ChronoUnit.MILLIS).toString()));
        long oneHour = Duration.ofHours(1).toMillis();
        assertNull(new AuctionEventTime().eval(inTenMinutes), "beyond the default 5 min: no event time");
        assertEquals("FUTURE_EVENT_TIME", new AuctionRejectReason().eval(inTenMinutes));
        assertNotNull(new AuctionEventTime(oneHour).eval(inTenMinutes), "within a 1 h tolerance");
        assertNull(new AuctionRejectReason(oneHour).eval(inTenMinutes));
    }

    @Test
    void theRejectReasonFunctionGivesTheValidatorsReason() {
        AuctionRejectReason rejectReason = new AuctionRejectReason();

        assertNull(rejectReason.eval(validEventJson()));
        assertEquals("BAD_EVENT_TIME",
                rejectReason.eval(validEventWith(e -> e.put("event_time", "2026-02-30T00:00:00Z"))));
    }
}
