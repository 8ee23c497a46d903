package com.ssmas.yield.connectors.validation;

import static com.ssmas.yield.connectors.validation.AuctionEvents.validEventJson;
import static com.ssmas.yield.connectors.validation.AuctionEvents.validEventWith;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;

/**
 * Why an auction record is rejected, with the reason strings the job writes to raw_errors and
 * counts per reason: NOT_UTF8, NOT_JSON, NOT_AN_OBJECT, OVERSIZED, and per property in schema order
 * MISSING_FIELD:, WRONG_TYPE:, OUT_OF_RANGE:, UNKNOWN_VALUE:, BAD_EVENT_TIME.
 */
class RejectReasonValidatorTest {

    private static RejectReasonValidator validator;

    @BeforeAll
    static void loadTheBundledSchema() {
        validator = new RejectReasonValidator(EventSchema.fromClasspath());
    }

    private static String reasonFor(String payload) {
        return validator.rejectReason(payload);
    }

    @Test
    void aValidEventHasNoReason() {
        assertNull(reasonFor(validEventJson()));
        assertNull(reasonFor(validEventWith(e -> {
            e.put("filled", false);
            e.putNull("cpm_eur");
            e.put("bid_count", 0);
            e.remove("top_bid_eur");
            e.remove("second_bid_eur");
        })), "an unfilled auction without bids needs no prices");
        assertNull(reasonFor(validEventWith(e -> e.put("unknown_extra", "ignored"))));
    }

    @Test
    void whatIsNotOneJsonObjectIsRejectedFirst() {
        assertEquals("NOT_JSON", reasonFor("not json {"));
        assertEquals("NOT_JSON", reasonFor("{\"impression_id\": \"imp-1\""));
        assertEquals("NOT_JSON", reasonFor(""));
        assertEquals("NOT_JSON", reasonFor(null));
        assertEquals("NOT_AN_OBJECT", reasonFor("[1, 2]"));
        assertEquals("NOT_AN_OBJECT", reasonFor("\"an auction\""));
        assertEquals("OVERSIZED", reasonFor(validEventWith(e -> e.put("domain", "x".repeat(9000)))));
    }

    @Test
    void aRecordGivenAsBytesIsNotUtf8BeforeAnythingElseAndOtherwiseReadAsItsText() {
        byte[] latin1 = validEventWith(e -> e.put("domain", "caf\u00e9.es")).getBytes(StandardCharsets.ISO_8859_1);
        assertEquals("NOT_UTF8", validator.rejectReasonOf(latin1), "a Latin-1 byte in a free-text field");
        byte[] hugeAndBinary = new byte[20_000];
        java.util.Arrays.fill(hugeAndBinary, (byte) 0xff);
        assertEquals("NOT_UTF8", validator.rejectReasonOf(hugeAndBinary), "not text at all: no length in characters");
        assertNull(validator.rejectReasonOf(validEventJson().getBytes(StandardCharsets.UTF_8)), "ASCII");
        String accented = validEventWith(e -> e.put("domain", "caf\u00e9.es \ud83d\ude00"));
        assertNull(validator.rejectReasonOf(accented.getBytes(StandardCharsets.UTF_8)), "UTF-8 beyond ASCII");
        assertEquals("NOT_JSON", validator.rejectReasonOf("not json {".getBytes(StandardCharsets.UTF_8)));
        assertEquals("NOT_JSON", validator.rejectReasonOf(null));
        assertEquals("OVERSIZED", validator.rejectReasonOf(
                validEventWith(e -> e.put("domain", "\u00e9".repeat(9000))).getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void aMissingOrNullRequiredFieldIsNamed() {
        assertEquals("MISSING_FIELD:country", reasonFor(validEventWith(e -> e.remove("country"))));
        assertEquals("MISSING_FIELD:country", reasonFor(validEventWith(e -> e.putNull("country"))));
        assertEquals("MISSING_FIELD:cpm_eur", reasonFor(validEventWith(e -> e.remove("cpm_eur"))),
                "cpm_eur is required when the auction was filled");
    }

    @Test
    void aValueOfTheWrongJsonTypeIsNamed() {
        assertEquals("WRONG_TYPE:bid_count", reasonFor(validEventWith(e -> e.put("bid_count", "3"))));
        assertEquals("WRONG_TYPE:bid_count", reasonFor(validEventWith(e -> e.put("bid_count", 2.5))));
        assertEquals("WRONG_TYPE:filled", reasonFor(validEventWith(e -> e.put("filled", "true"))));
        assertEquals("WRONG_TYPE:floor_price_eur", reasonFor(validEventWith(e -> e.putArray("floor_price_eur"))));
        assertEquals("WRONG_TYPE:country", reasonFor(validEventWith(e -> e.put("country", 49))));
    }

    @Test
    void aWholeNumberWrittenWithAnExponentIsAnInteger() {
        // Flink's JSON functions print 1.5e1 as 15: the SQL specification accepts it
        assertNull(reasonFor(validEventJson().replace("\"bid_count\":3", "\"bid_count\":1.5e1")));
    }

    @Test
    void aValueOutOfItsRangeIsNamed() {
        assertEquals("OUT_OF_RANGE:user_engagement_score",
                reasonFor(validEventWith(e -> e.put("user_engagement_score", 1.5))));
        assertEquals("OUT_OF_RANGE:floor_price_eur", reasonFor(validEventWith(e -> e.put("floor_price_eur", -0.01))));
        assertEquals("OUT_OF_RANGE:bid_count", reasonFor(validEventWith(e -> e.put("bid_count", -1))));
        assertEquals("OUT_OF_RANGE:impression_id", reasonFor(validEventWith(e -> e.put("impression_id", ""))));
        assertNull(reasonFor(validEventWith(e -> e.put("user_engagement_score", 1.0))), "the bounds are inclusive");
    }

    @Test
    void aValueOutsideItsEnumOrPatternIsNamed() {
        assertEquals("UNKNOWN_VALUE:device_category",
                reasonFor(validEventWith(e -> e.put("device_category", "smartwatch"))));
        assertEquals("UNKNOWN_VALUE:device_category",
                reasonFor(validEventWith(e -> e.put("device_category", "Mobile"))), "enum values are exact");
        assertEquals("UNKNOWN_VALUE:country", reasonFor(validEventWith(e -> e.put("country", "de"))));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "2026-02-30T00:00:00Z", // no 30 February
        "2025-02-29T00:00:00Z", // not a leap year
        "2026-11-25T24:00:00Z",
        "2026-11-25T14:03:60Z",
        "2026-13-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-11-25 14:03:07Z",
        "2026-11-25T14:03:07.1234Z",
        "2026-11-25T14:03:07+01:00",
        "2026-11-25T14:03:07Z\n"})
    void anEventTimeThatIsNotARealUtcInstantIsRejected(String eventTime) {
        assertEquals("BAD_EVENT_TIME", reasonFor(validEventWith(e -> e.put("event_time", eventTime))));
    }

    @ParameterizedTest
    @ValueSource(strings = {"2024-02-29T00:00:00Z", "2026-11-25T23:59:59.9Z", "2000-02-29T12:00:00.000Z"})
    void aRealUtcInstantIsAccepted(String eventTime) {
        assertNull(reasonFor(validEventWith(e -> e.put("event_time", eventTime))));
    }

    @Test
    void theFirstFailingPropertyInSchemaOrderIsTheReason() {
        assertEquals("MISSING_FIELD:country", reasonFor(validEventWith(e -> {
            e.put("bid_count", "three"); // bid_count comes after country in the schema
            e.remove("country");
        })));
    }

    @Test
    void aKeyWrittenTwiceIsRejected() {
        // The independent reading (tests/integration/test_hostile_records.py) rejects it: the last
        // value won, so a record could pass with a value other readers of the same payload (first one wins) would not see.
        assertEquals("DUPLICATE_KEY",
                reasonFor(validEventJson().replace("\"country\":\"DE\"", "\"country\":\"de\",\"country\":\"DE\"")));
        assertEquals("DUPLICATE_KEY",
                reasonFor(validEventJson().replace("\"country\":\"DE\"", "\"country\":\"DE\",\"c\\u006funtry\":\"DE\"")),
                "an escaped spelling is the same key");
        assertEquals("DUPLICATE_KEY", reasonFor(validEventWith(e -> e.put("extra", 1)).replace("}", ",\"extra\":2}")),
                "unknown keys too");
        assertEquals("NOT_JSON", reasonFor(validEventJson().replace("\"country\":\"DE\"", "\"country\":\"DE\",\"country\":")),
                "a syntax error after a duplicate is the reason");
    }

    @ParameterizedTest
    @ValueSource(strings = {" x", "}", "]", ",", " {}", "{\"a\":1}", " null", "\u0000"})
    void anythingButWhitespaceAfterTheObjectIsNotJson(String trailing) {
        // The independent reading rejects it: Flink's IS JSON reads the first value only, so
        // `{...valid...} x` and two events glued together were accepted as the first one.
        assertEquals("NOT_JSON", reasonFor(validEventJson() + trailing));
        assertNull(reasonFor(validEventJson() + " \t\r\n"), "whitespace may follow");
        assertEquals("NOT_JSON", reasonFor("[1]" + trailing));
    }

    @ParameterizedTest
    @ValueSource(strings = {"NaN", "Infinity", "-Infinity", "nan", "1e400", "-1e400", "1e200", "1e126", "10000.01"})
    void aPriceThatIsNotAFiniteNumberInRangeIsRejected(String number) {
        String payload = validEventJson().replace("\"floor_price_eur\":0.4", "\"floor_price_eur\":" + number);
        String reason = reasonFor(payload);
        assertTrue("NOT_JSON".equals(reason) || "OUT_OF_RANGE:floor_price_eur".equals(reason), number + ": " + reason);
        assertNull(reasonFor(validEventJson().replace("\"floor_price_eur\":0.4", "\"floor_price_eur\":10000")),
                "the bound is inclusive");
    }

    @ParameterizedTest
    @ValueSource(strings = {"2147483648", "-2147483649", "9223372036854775808", "1001", "1.001e3"})
    void aBidCountBeyondItsBoundIsOutOfRange(String number) {
        // The independent reading (jsonschema maximum) rejects it: a whole number beyond the
        // 32-bit range skipped the range check (its INT value is NULL) and the event was accepted without a bid count.
        assertEquals("OUT_OF_RANGE:bid_count",
                reasonFor(validEventJson().replace("\"bid_count\":3", "\"bid_count\":" + number)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"DE\n", "DE\r\n", "DE\u2028", "DE\u0085", "DE\r"})
    void aPatternMustMatchUpToTheEnd(String country) {
        // The independent reading (ECMA-262 `$`) rejects it: Java's `$` also matches before a final line terminator.
        assertEquals("UNKNOWN_VALUE:country", reasonFor(validEventWith(e -> e.put("country", country))));
    }

    @Test
    void anEventTimeTooFarAheadOfTheClockIsFuture() {
        Instant now = Instant.parse("2026-11-25T14:00:00Z");
        RejectReasonValidator fiveMinutes = new RejectReasonValidator(
                EventSchema.fromClasspath(), Duration.ofMinutes(5).toMillis(), Clock.fixed(now, ZoneOffset.UTC));
        assertNull(fiveMinutes.rejectReason(validEventWith(e -> e.put("event_time", "2026-11-25T14:05:00.000Z"))),
                "exactly at the tolerance");
        assertEquals("FUTURE_EVENT_TIME",
                fiveMinutes.rejectReason(validEventWith(e -> e.put("event_time", "2026-11-25T14:05:00.001Z"))));
        assertEquals("FUTURE_EVENT_TIME",
                fiveMinutes.rejectReason(validEventWith(e -> e.put("event_time", "9999-12-31T23:59:59.999Z"))));
        assertNull(fiveMinutes.rejectReason(validEventWith(e -> e.put("event_time", "2020-01-01T00:00:00Z"))),
                "the past is not bounded here: late events are the job's business");
        assertEquals("BAD_EVENT_TIME",
                fiveMinutes.rejectReason(validEventWith(e -> e.put("event_time", "9999-12-32T00:00:00Z"))));
        String[] batch = fiveMinutes.rejectReasons(new String[] {
            validEventWith(e -> e.put("event_time", "2026-11-25T15:00:00Z")), validEventJson(), null});
        assertArrayEquals(new String[] {"FUTURE_EVENT_TIME", null, "NOT_JSON"}, batch);
    }

    /**
     * An ASCII record given as bytes is parsed from them (Jackson's byte parser), its text as
     * chars: the two must agree on every verdict, value and string offset.
     */
    @ParameterizedTest
    @ValueSource(strings = {
        "", " ", "{}", "[]", "1", "\"x\"", "null", "{\"a\":1} x", "{\"a\":1}{\"a\":1}", "{\"a\":", "{\"a\" 1}",
        "\u0000\u0000\u0000{", "\u0000{\u0000}", "{\u0000\u0000\u0000", "{\"a\":\"\u0000\"}", "{}\u0000",
        "\"bid_count\":3 -> \"bid_count\":1.5e1", "\"bid_count\":3 -> \"bid_count\":0e0",
        "\"bid_count\":3 -> \"bid_count\":-0", "\"bid_count\":3 -> \"bid_count\":1e99999999999",
        "\"bid_count\":3 -> \"bid_count\":2147483648", "\"floor_price_eur\":0.4 -> \"floor_price_eur\":-0.0",
        "\"floor_price_eur\":0.4 -> \"floor_price_eur\":1e400",
        "\"floor_price_eur\":0.4 -> \"floor_price_eur\":0.1234567890123456789",
        "\"country\":\"DE\" -> \"country\":\"DE\",\"c\\u006funtry\":\"DE\"",
        "\"country\":\"DE\" -> \"x\":[{\"country\":1}],\"country\":\"DE\",\"x\":2",
        "\"domain\":\"news.example\" -> \"domain\":\"n\\u0065ws.\\\"x\\\\y\\\"\"",
        "\"domain\":\"news.example\" ->   \"domain\" :  \"news.example\"  ",
        "\"country\":\"DE\" -> \"country\":\"DE\n\"", "\"country\":\"DE\" -> \"country\":\"D\u0000E\"",
        "\"cpm_eur\":0.95 -> \"cpm_eur\":0.95\u0000",
    })
    void anAsciiRecordReadFromItsBytesHasTheVerdictAndValuesOfItsText(String record) {
        String[] change = record.split(" -> ", 2);
        String text = change.length == 2 ? validEventJson().replace(change[0], change[1]) : record;
        RejectReasonValidator asBytes = new RejectReasonValidator(EventSchema.fromClasspath());
        byte[] padded = ("xx" + text + "yyy").getBytes(StandardCharsets.US_ASCII); // a slice of a larger buffer

        String reason = asBytes.rejectReasonOf(padded, 2, text.length());

        assertEquals(validator.rejectReason(text), reason, text);
        assertTrue(asBytes.lastWasAscii());
        if (reason != null) {
            return; // the values of a rejected record mean nothing
        }
        for (EventSchema.Field f : EventSchema.fromClasspath().fields) {
            assertEquals(validator.value(f.index), asBytes.value(f.index), f.name + " of " + text);
            assertEquals(validator.textOffset(f.index), asBytes.textOffset(f.index), f.name + " of " + text);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.4", "0.1059", "-0.0", "0.0", "-1.5", "999999999999.999", "0.000000000000001",
        "1.0", "123456789012345.6", "0.1000000000000000055511151231257827", "1.5e1", "1E-1", "-2.5e-3"})
    void aNumberIsTheDoubleOfItsBigDecimal(String number) {
        // Flink's JSON functions read floats as BigDecimal: the column holds its doubleValue().
        validator.rejectReason(validEventJson().replace("\"floor_price_eur\":0.4", "\"floor_price_eur\":" + number));
        int i = EventSchema.fromClasspath().indexByName.get("floor_price_eur");
        assertEquals(Double.doubleToRawLongBits(new java.math.BigDecimal(number).doubleValue()),
                Double.doubleToRawLongBits((Double) validator.value(i)), number);
    }
}
