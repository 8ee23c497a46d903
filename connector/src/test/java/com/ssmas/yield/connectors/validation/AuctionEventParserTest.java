package com.ssmas.yield.connectors.validation;

import static com.ssmas.yield.connectors.validation.AuctionEvents.validEventJson;
import static com.ssmas.yield.connectors.validation.AuctionEvents.validEventWith;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.ssmas.yield.connectors.RecordingMetricGroup;

import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.util.Collector;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
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
    private final List<RowData> rows = new ArrayList<>();

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
            public void collect(RowData row) {
                rows.add(row);
            }

            @Override
            public void close() {}
        });
        return parser;
    }

    /** A record as the source holds it: its UTF-8 bytes in Flink's internal string (null stays null). */
    private static StringData utf8(String text) {
        return text == null ? null : StringData.fromBytes(text.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * A valid event whose {@code field} value is {@code bytes} as written (not necessarily UTF-8),
     * in a StringData that holds exactly those bytes, as the raw format gives it.
     */
    private static StringData withRawBytes(String field, byte[] bytes) {
        String marker = "@@MARK@@";
        String[] parts = validEventWith(e -> e.put(field, marker)).split(marker, -1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(parts[0].getBytes(StandardCharsets.UTF_8));
        out.writeBytes(bytes);
        out.writeBytes(parts[1].getBytes(StandardCharsets.UTF_8));
        return StringData.fromBytes(out.toByteArray());
    }

    private static byte[] bytes(int... values) {
        byte[] out = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (byte) values[i];
        }
        return out;
    }

    /** A field of an output row as its Java value (a StringData as its String). */
    private static Object field(RowData row, int i) {
        Object value = ((GenericRowData) row).getField(i);
        return value instanceof StringData ? value.toString() : value;
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
        openedParser().eval(utf8(validEventJson()));

        RowData row = rows.get(0);
        assertNull(field(row, 0), "no reject reason");
        assertEquals("imp-0001", field(row, column("impression_id")));
        assertEquals("mobile", field(row, column("device_category")));
        assertEquals(3, field(row, column("bid_count")));
        assertEquals(0.5, field(row, column("user_engagement_score")));
        assertEquals(true, field(row, column("filled")));
        assertEquals(0.95, field(row, column("cpm_eur")));
        assertFalse(AuctionEventParser.typedFields(EventSchema.fromClasspath()).stream()
                .anyMatch(f -> f.name.equals("event_time")), "event_time comes from the source table");
    }

    @Test
    void aStringValueIsTheTextOfTheRecordWhateverItsEscapesAndEncoding() {
        AuctionEventParser parser = openedParser();
        // Written with escapes, a JSON string's bytes are not its value: the value is decoded.
        String escaped = validEventJson().replace("\"news.example\"", "\"n\\u0065ws.\\\"x\\\\y\\\"\"");
        parser.eval(utf8(escaped));
        parser.eval(utf8(validEventWith(e -> e.put("domain", "caf\u00e9.es \u20ac"))));
        parser.eval(utf8(validEventWith(e -> e.put("ad_unit", "\"quoted\" \\ and / slash"))));
        parser.eval(utf8(validEventJson()));

        assertEquals("news.\"x\\y\"", field(rows.get(0), column("domain")));
        assertEquals("caf\u00e9.es \u20ac", field(rows.get(1), column("domain")), "UTF-8, not ASCII");
        assertEquals("\"quoted\" \\ and / slash", field(rows.get(2), column("ad_unit")));
        assertEquals("news.example", field(rows.get(3), column("domain")));
        for (RowData row : rows) {
            assertNull(field(row, 0));
            assertEquals("imp-0001", field(row, column("impression_id")));
            assertEquals("DE", field(row, column("country")));
        }
    }

    @Test
    void theRowTimeAndTheParserOfTheSameThreadReadEachRecordOnceAndNeverAStaleOne() {
        AuctionEventParser parser = openedParser();
        AuctionRowTime rowTime = new AuctionRowTime();
        byte[] buffer = validEventWith(e -> e.put("domain", "a.example")).getBytes(StandardCharsets.UTF_8);
        StringData record = StringData.fromBytes(buffer);
        assertEquals(LocalDateTime.parse("2026-11-25T14:03:07.123"), rowTime.eval(record));
        parser.eval(record); // the row time's parse of the same bytes
        // A string value is a view of the record's bytes, as the payload column is.
        assertEquals("a.example", field(rows.get(0), column("domain")));
        // The same buffer holding another record (a caller that reuses its buffer): parsed afresh.
        byte[] other = validEventWith(e -> e.put("domain", "b.example")).getBytes(StandardCharsets.UTF_8);
        System.arraycopy(other, 0, buffer, 0, other.length);
        parser.eval(StringData.fromBytes(buffer));
        parser.eval(utf8(validEventWith(e -> e.remove("country")))); // another record, no row time first
        parser.eval(utf8(validEventJson()));

        assertEquals("b.example", field(rows.get(1), column("domain")));
        assertEquals("MISSING_FIELD:country", field(rows.get(2), 0));
        assertEquals("news.example", field(rows.get(3), column("domain")));
        assertEquals(4, metrics.count("kinesisanalytics.recordsRead"), "the parser counts every record it is given");
    }

    @Test
    void aPayloadInsideALargerBufferIsReadWhereItIsAndItsRowKeepsItsValuesWhenTheBufferIsReused() {
        AuctionEventParser parser = openedParser();
        AuctionRowTime rowTime = new AuctionRowTime();
        byte[] event = validEventWith(e -> e.put("domain", "a.example")).getBytes(StandardCharsets.UTF_8);
        byte[] buffer = new byte[event.length + 10];
        System.arraycopy(event, 0, buffer, 4, event.length);
        StringData record = StringData.fromBytes(buffer, 4, event.length);
        assertEquals(LocalDateTime.parse("2026-11-25T14:03:07.123"), rowTime.eval(record));
        parser.eval(record);
        byte[] other = validEventWith(e -> e.put("domain", "b.example")).getBytes(StandardCharsets.UTF_8);
        System.arraycopy(other, 0, buffer, 4, other.length);
        parser.eval(record);

        assertEquals("a.example", field(rows.get(0), column("domain")), "not a view of the caller's buffer");
        assertEquals("DE", field(rows.get(0), column("country")));
        assertEquals("b.example", field(rows.get(1), column("domain")));
    }

    @Test
    void aRejectedRecordHasOnlyItsReason() {
        openedParser().eval(utf8(validEventWith(e -> e.put("device_category", "smartwatch"))));

        RowData row = rows.get(0);
        assertEquals("UNKNOWN_VALUE:device_category", field(row, 0));
        for (int i = 1; i < row.getArity(); i++) {
            assertNull(field(row, i));
        }
    }

    @Test
    void everyRecordIsCountedAsReadAndAsAcceptedOrRejectedByReason() {
        AuctionEventParser parser = openedParser();
        parser.eval(utf8(validEventJson()));
        parser.eval(utf8("not json"));
        parser.eval(utf8(validEventWith(e -> e.remove("country"))));
        parser.eval(utf8("not json either"));

        assertEquals(4, metrics.count("kinesisanalytics.recordsRead"));
        assertEquals(1, metrics.count("kinesisanalytics.recordsAccepted"));
        assertEquals(3, metrics.count("kinesisanalytics.recordsRejected"));
        assertEquals(2, metrics.count("kinesisanalytics.RejectReason.NOT_JSON.recordsRejected"));
        assertEquals(1, metrics.count("kinesisanalytics.RejectReason.MISSING_FIELD:country.recordsRejected"));
    }

    @Test
    void theEventTimeOfAValidEventIsItsUtcTimeAndNullOtherwise() {
        AuctionEventTime eventTime = new AuctionEventTime(); // works without open(), as at planning

        assertEquals(LocalDateTime.parse("2026-11-25T14:03:07.123"), eventTime.eval(utf8(validEventJson())));
        assertEquals(LocalDateTime.parse("2026-11-25T14:03:07.200"),
                eventTime.eval(utf8(validEventWith(e -> e.put("event_time", "2026-11-25T14:03:07.2Z")))));
        assertNull(eventTime.eval(utf8(validEventWith(e -> e.put("event_time", "2026-02-30T00:00:00Z")))));
        assertNull(eventTime.eval(utf8(validEventWith(e -> e.remove("country")))), "a rejected record has no event time");
    }

    @Test
    void aRejectedRecordsRowTimeIsTheNewestAcceptedEventTimeSoItNeitherHoldsNorPushesTheWatermark() {
        AuctionRowTime rowTime = new AuctionRowTime();
        String future = validEventWith(e -> e.put("event_time", "9999-12-31T23:59:59Z"));
        assertEquals(LocalDateTime.parse("1970-01-01T00:00:00"), rowTime.eval(utf8("garbage")), "nothing accepted yet");
        assertEquals(LocalDateTime.parse("1970-01-01T00:00:00"), rowTime.eval(utf8(future)));
        assertEquals(LocalDateTime.parse("2026-11-25T14:03:07.123"), rowTime.eval(utf8(validEventJson())));
        assertEquals(LocalDateTime.parse("2026-11-25T14:00:00"),
                rowTime.eval(utf8(validEventWith(e -> e.put("event_time", "2026-11-25T14:00:00Z")))), "an older valid event");
        assertEquals(LocalDateTime.parse("2026-11-25T14:03:07.123"), rowTime.eval(utf8(future)),
                "a future-dated record follows the newest accepted time, it does not jump ahead");
        assertEquals(LocalDateTime.parse("2026-11-25T14:03:07.123"), rowTime.eval(utf8(null)));
    }

    @Test
    void theFunctionsBuiltWithATolerancePutAFutureEventTimeInQuarantine() {
        String inTenMinutes = validEventWith(e -> e.put("event_time",
                Instant.now().plus(Duration.ofMinutes(10)).truncatedTo(ChronoUnit.MILLIS).toString()));
        long oneHour = Duration.ofHours(1).toMillis();
        assertNull(new AuctionEventTime().eval(utf8(inTenMinutes)), "beyond the default 5 min: no event time");
        assertEquals("FUTURE_EVENT_TIME", new AuctionRejectReason().eval(utf8(inTenMinutes)));
        assertNotNull(new AuctionEventTime(oneHour).eval(utf8(inTenMinutes)), "within a 1 h tolerance");
        assertNull(new AuctionRejectReason(oneHour).eval(utf8(inTenMinutes)));
    }

    @Test
    void theRejectReasonFunctionGivesTheValidatorsReason() {
        AuctionRejectReason rejectReason = new AuctionRejectReason();

        assertNull(rejectReason.eval(utf8(validEventJson())));
        assertEquals("BAD_EVENT_TIME",
                rejectReason.eval(utf8(validEventWith(e -> e.put("event_time", "2026-02-30T00:00:00Z")))));
    }

    @Test
    void aRecordWhoseBytesAreNotUtf8IsNotUtf8WhereverTheBadBytesAre() {
        // Each of these was read with U+FFFD in place of its bad bytes and accepted (a free-text field)
        // or rejected for another reason; the bytes themselves are what is wrong.
        StringData[] records = {
            withRawBytes("domain", bytes('c', 'a', 'f', 0xe9, '.', 'e', 's')), // Latin-1
            withRawBytes("ad_unit", bytes('t', 'o', 'p', 0xed, 0xa0, 0x80)), // an encoded surrogate
            withRawBytes("bidder", bytes(0xc0, 0xaf, 'x')), // an overlong '/'
            withRawBytes("bidder", bytes('x', 0xf4, 0x90, 0x80, 0x80)), // beyond U+10FFFF
            withRawBytes("device_category", bytes('m', 'o', 'b', 'i', 'l', 0xe9)),
            StringData.fromBytes(bytes(0x80, '{', '}')), // a stray continuation byte
            StringData.fromBytes(bytes('{', '"', 'a', '"', ':', '"', 0xe2, 0x82)), // cut at the end
        };
        AuctionEventParser parser = openedParser();
        AuctionRowTime rowTime = new AuctionRowTime();
        rowTime.eval(utf8(validEventJson()));
        for (StringData record : records) {
            parser.eval(record);
            assertEquals("NOT_UTF8", new AuctionRejectReason().eval(record));
            assertNull(new AuctionEventTime().eval(record), "no event time");
            assertEquals(LocalDateTime.parse("2026-11-25T14:03:07.123"), rowTime.eval(record),
                    "the watermark follows the newest accepted event");
        }
        for (RowData row : rows) {
            assertEquals("NOT_UTF8", field(row, 0));
        }
        assertEquals(records.length, metrics.count("kinesisanalytics.RejectReason.NOT_UTF8.recordsRejected"));
        assertEquals(0, metrics.count("kinesisanalytics.recordsAccepted"));
    }

    @Test
    void utf8TextOfAnyRecordIsValidTextAndEqualsTheRecordWhenItIsUtf8() {
        Utf8Text text = new Utf8Text();
        String valid = validEventWith(e -> e.put("domain", "caf\u00e9.es \u20ac \ud83d\ude00"));
        assertEquals(valid, text.eval(utf8(valid)), "UTF-8 (2, 3 and 4 byte sequences) unchanged");
        // One U+FFFD per maximal ill-formed subpart (WHATWG; Python's "replace" gives the same).
        assertEquals("caf\ufffd.es", text.eval(StringData.fromBytes(bytes('c', 'a', 'f', 0xe9, '.', 'e', 's'))));
        assertEquals("top\ufffd\ufffd\ufffd", text.eval(StringData.fromBytes(bytes('t', 'o', 'p', 0xed, 0xa0, 0x80))));
        assertEquals("\ufffd\ufffdx", text.eval(StringData.fromBytes(bytes(0xc0, 0xaf, 'x'))));
        assertEquals("a\ufffd", text.eval(StringData.fromBytes(bytes('a', 0xe2, 0x82))), "cut at the end");
        assertEquals("\ufffd\ufffd\ufffd\ufffdx", text.eval(StringData.fromBytes(bytes(0xf4, 0x90, 0x80, 0x80, 'x'))));
        assertEquals("\ufffd\u00e9", text.eval(StringData.fromBytes(bytes(0xe2, 0xc3, 0xa9))), "a cut sequence, then one");
        assertEquals("\ud83d\ude00", text.eval(StringData.fromBytes(bytes(0xf0, 0x9f, 0x98, 0x80))));
        assertNull(text.eval(null));
        String rendered = text.eval(StringData.fromBytes(bytes(0xff, 0xfe, 0x80, 'z')));
        byte[] again = rendered.getBytes(StandardCharsets.UTF_8);
        assertEquals(rendered, new String(again, StandardCharsets.UTF_8), "the rendering is itself UTF-8 text");
    }
}
