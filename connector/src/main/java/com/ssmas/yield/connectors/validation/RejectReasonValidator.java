package com.ssmas.yield.connectors.validation;

import com.ssmas.yield.connectors.validation.EventSchema.Field;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonLocation;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;

import javax.annotation.Nullable;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The reject reason of one auction event from a single streaming parse; plain Java, no Flink
 * runtime needed. Not thread-safe (it reuses per-record buffers and matchers): one instance per
 * thread, which is what Flink does with a function instance.
 *
 * <p>The specification is the SQL that {@code tests/support/validation_sql.py} generates, including the
 * behaviour of Flink's JSON functions (Flink 2.2, {@code SqlJsonUtils}: Jackson 2.18 parsing the
 * payload into Java objects with floats as BigDecimal, first value only):
 *
 * <ul>
 *   <li>NOT_UTF8: the record's bytes are not UTF-8 text (a stray or cut multi-byte sequence, an
 *       overlong form, an encoded UTF-16 surrogate, a Latin-1 byte), wherever they are. Only a
 *       record given as bytes ({@link #rejectReasonOf(byte[])}, what the job's functions call) can
 *       be NOT_UTF8: decoded leniently, the bad bytes would become U+FFFD and a changed domain or
 *       bidder could be accepted. The SQL cannot say it (its strings are already decoded).
 *   <li>OVERSIZED: more than {@code x-max-record-chars} code points ({@code CHAR_LENGTH}).
 *   <li>NOT_JSON: what Jackson cannot read as exactly one JSON value of any kind. Anything but
 *       whitespace after the first value is NOT_JSON too ({@code {"a":1} x}, two objects in one
 *       record): stricter than Flink's {@code IS JSON}, which ignores it, so the SQL cannot say it.
 *       Jackson's limits apply: nesting deeper than 1000, numbers longer than 1000 characters, a
 *       decimal exponent beyond the int range are NOT_JSON. The whole value is read, unknown
 *       fields too. NaN and Infinity literals are not JSON.
 *   <li>A NULL payload is NOT_JSON, as in the SQL.
 *   <li>NOT_AN_OBJECT: any other JSON value (array, string, number, boolean, null).
 *   <li>DUPLICATE_KEY: a key of the event object written twice (also when one is escaped): which
 *       one a reader keeps differs between parsers, so neither is trusted. The SQL (last one wins)
 *       cannot say it. Keys inside nested values of unknown fields are not checked.
 *   <li>Per property, in schema order: MISSING_FIELD (required, or x-required-when true, and
 *       absent or null), WRONG_TYPE, OUT_OF_RANGE, UNKNOWN_VALUE, BAD_EVENT_TIME.
 *   <li>integer: a JSON number the SQL prints without fraction or exponent: written without
 *       them (-0 is 0), or a decimal whose BigDecimal scale is 0 (1.5e1 is 15, 0e0 is 0, 1.0e1
 *       is 10); 2.0, 1e3 and 1.5 are WRONG_TYPE. The range is checked on the nearest double, so a
 *       whole number outside the 32-bit range is OUT_OF_RANGE of any bounded property.
 *   <li>number: any JSON number; compared as the nearest double (1e400 is +Infinity, so it is
 *       OUT_OF_RANGE of every bounded property: no non-finite value is accepted).
 *   <li>string lengths count code points; enum is exact equality; pattern uses {@code find()} like
 *       REGEXP (so {@code $} also matches before a final line terminator).
 *   <li>date-time: the SQL pattern, matched up to the very end (no trailing line terminator),
 *       and a real instant, see {@link #isRealInstant}; then FUTURE_EVENT_TIME when it is more
 *       than the configured tolerance ahead of the clock when read (a producer's clock gone wrong
 *       must not drag the watermark ahead and make every other event late). The SQL cannot say
 *       it (it depends on when the record is read).
 * </ul>
 */
public final class RejectReasonValidator {

    /** validation.py EVENT_TIME_PATTERN: ISO-8601 UTC with optional milliseconds. */
    public static final String EVENT_TIME_PATTERN =
            "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,3})?Z$";

    public static final String NOT_UTF8 = "NOT_UTF8";
    public static final String OVERSIZED = "OVERSIZED";
    public static final String NOT_JSON = "NOT_JSON";
    public static final String NOT_AN_OBJECT = "NOT_AN_OBJECT";
    public static final String BAD_EVENT_TIME = "BAD_EVENT_TIME";
    public static final String FUTURE_EVENT_TIME = "FUTURE_EVENT_TIME";
    public static final String DUPLICATE_KEY = "DUPLICATE_KEY";

    /** Job.event.time.max.ahead when none is given (flink_jobs/config.py has the same default). */
    public static final Duration DEFAULT_MAX_AHEAD = Duration.ofMinutes(5);

    // What a property holds in this record.
    private static final byte ABSENT = 0;
    private static final byte NULL = 1;
    private static final byte STRING = 2;
    private static final byte INT = 3; // a whole number as the SQL sees it, see record()
    private static final byte FLOAT = 4; // any other JSON number

    private static final BigDecimal INT_MIN = BigDecimal.valueOf(Integer.MIN_VALUE);
    private static final BigDecimal INT_MAX = BigDecimal.valueOf(Integer.MAX_VALUE);
    /** 10^0 to 10^15, each exactly a double. */
    private static final double[] POWERS_OF_TEN = {
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15
    };
    private static final byte TRUE = 5;
    private static final byte FALSE = 6;
    private static final byte CONTAINER = 7; // object or array

    // What the bytes of a record are (textOf).
    private static final byte ASCII = 0;
    private static final byte ASCII_WITH_NUL = 1;
    private static final byte NOT_ASCII = 2;
    private static final VarHandle EIGHT_BYTES =
            MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long HIGH_BITS = 0x8080808080808080L;
    private static final long LOW_BITS = 0x0101010101010101L;

    // Shared with nothing else: JsonFactory defaults, like the one behind Flink's JSON functions.
    private static final JsonFactory JSON_FACTORY = new JsonFactory();

    private final EventSchema schema;
    private final Field[] fields;
    private final byte[] kind;
    private final String[] text;
    private final double[] number;
    private final boolean[] fitsInt;
    private final int[] intValue;
    /** Per field, the character offset of its string value's opening quote in the payload (-1: none). */
    private final int[] textOffset;
    /** Whether the record last given as bytes was ASCII (its character offsets are byte offsets). */
    private boolean lastWasAscii;
    /** Per field, a reusable matcher of its pattern (null when none). */
    private final Matcher[] patternMatchers;
    private final Matcher eventTimeMatcher = Pattern.compile(EVENT_TIME_PATTERN).matcher("");
    /**
     * Top-level keys outside the schema seen in the record being read (duplicate detection; a
     * schema property seen already is one whose kind is no longer ABSENT).
     */
    private final Set<String> otherKeysSeen = new HashSet<>();
    /**
     * Per position in the object, the key last read there and its schema index (-1: not in the
     * schema). Producers write keys in the same order, and Jackson hands out one String per key
     * name, so a key is mostly found by identity here instead of in the schema's map.
     */
    private final String[] keyAt;
    private final int[] indexAt;
    private final long maxAheadMillis;
    private final Clock clock;
    /** Strict: malformed input is an error, never U+FFFD. */
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);

    public RejectReasonValidator(EventSchema schema) {
        this(schema, DEFAULT_MAX_AHEAD.toMillis(), Clock.systemUTC());
    }

    /**
     * @param maxAheadMillis how far an event time may be ahead of {@code clock} when the record
     *     is read before it is FUTURE_EVENT_TIME
     */
    public RejectReasonValidator(EventSchema schema, long maxAheadMillis, Clock clock) {
        if (maxAheadMillis < 0) {
            throw new IllegalArgumentException("maxAheadMillis must be >= 0, got " + maxAheadMillis);
        }
        this.maxAheadMillis = maxAheadMillis;
        this.clock = clock;
        this.schema = schema;
        this.fields = schema.fields.toArray(new Field[0]);
        int n = fields.length;
        this.kind = new byte[n];
        this.text = new String[n];
        this.number = new double[n];
        this.fitsInt = new boolean[n];
        this.intValue = new int[n];
        this.textOffset = new int[n];
        this.patternMatchers = new Matcher[n];
        this.keyAt = new String[2 * n];
        this.indexAt = new int[2 * n];
        for (Field f : fields) {
            if (f.pattern != null) {
                patternMatchers[f.index] = f.pattern.matcher("");
            }
        }
    }

    /**
     * The first reason a record, given as the bytes the stream carried, is rejected for (NOT_UTF8
     * before any other), or null when it is a valid event.
     */
    public @Nullable String rejectReasonOf(@Nullable byte[] record) {
        return record == null ? rejectReasonOf(null, 0, 0) : rejectReasonOf(record, 0, record.length);
    }

    /**
     * As {@link #rejectReasonOf(byte[])} for the record {@code record[from, from + length)}, read
     * in place (no reference to the array is kept); {@link #textOffset} counts from {@code from}.
     */
    public @Nullable String rejectReasonOf(@Nullable byte[] record, int from, int length) {
        lastWasAscii = false;
        if (record == null) {
            return NOT_JSON;
        }
        byte bytes = textOf(record, from, length);
        if (bytes != NOT_ASCII) {
            lastWasAscii = true;
            if (bytes == ASCII) {
                return rejectReasonOfAscii(record, from, length); // the common case
            }
            // Jackson's byte parser would take NUL bytes for UTF-16 or UTF-32 text: read it as chars.
            return rejectReason(new String(record, from, length, StandardCharsets.ISO_8859_1));
        }
        String text;
        try {
            text = utf8.reset().decode(ByteBuffer.wrap(record, from, length)).toString();
        } catch (CharacterCodingException e) {
            return NOT_UTF8;
        }
        return rejectReason(text);
    }

    /** ASCII, ASCII_WITH_NUL or NOT_ASCII: eight bytes at a time, as this runs on every record. */
    private static byte textOf(byte[] record, int from, int length) {
        long nulBytes = 0; // a high bit where a byte of a word is 0 (ASCII words only)
        int k = from;
        int end = from + length;
        for (; k + Long.BYTES <= end; k += Long.BYTES) {
            long word = (long) EIGHT_BYTES.get(record, k);
            if ((word & HIGH_BITS) != 0) {
                return NOT_ASCII;
            }
            nulBytes |= (word - LOW_BITS) & ~word & HIGH_BITS;
        }
        for (; k < end; k++) {
            byte b = record[k];
            if (b < 0) {
                return NOT_ASCII;
            }
            if (b == 0) {
                nulBytes = 1;
            }
        }
        return nulBytes == 0 ? ASCII : ASCII_WITH_NUL;
    }

    /**
     * An ASCII record without NUL bytes, parsed from its bytes: no String of the record, and
     * Jackson's UTF-8 parser reads the same JSON as its char parser here (one char per byte, so
     * byte offsets are char offsets and the length is the code point count).
     */
    private @Nullable String rejectReasonOfAscii(byte[] record, int from, int length) {
        if (length > schema.maxRecordChars) {
            return OVERSIZED;
        }
        String structural;
        try (JsonParser p = JSON_FACTORY.createParser(record, from, length)) {
            structural = read(p, true);
        } catch (IOException | RuntimeException e) {
            structural = NOT_JSON;
        }
        return structural != null ? structural : firstFieldReason();
    }

    /** The first reason the payload is rejected for, or null when it is a valid event. */
    public @Nullable String rejectReason(@Nullable String payload) {
        if (payload == null) {
            return NOT_JSON; // as the SQL: CHAR_LENGTH(NULL) is NULL, NULL IS NOT JSON is true
        }
        int max = schema.maxRecordChars;
        if (payload.length() > max && payload.codePointCount(0, payload.length()) > max) {
            return OVERSIZED;
        }
        String structural;
        try (JsonParser p = JSON_FACTORY.createParser(payload)) {
            structural = read(p, false);
        } catch (IOException | RuntimeException e) {
            structural = NOT_JSON;
        }
        return structural != null ? structural : firstFieldReason();
    }

    /** The first property check, in schema order, that the record read fails, or null. */
    private @Nullable String firstFieldReason() {
        for (Field f : fields) {
            String reason = check(f);
            if (reason != null) {
                return reason;
            }
        }
        return null;
    }

    /**
     * The reject reason of each payload, in order (null for a valid one): one call for many
     * records, for tests that drive the validator from Python through py4j.
     */
    public String[] rejectReasons(String[] payloads) {
        String[] out = new String[payloads.length];
        for (int i = 0; i < payloads.length; i++) {
            out[i] = rejectReason(payloads[i]);
        }
        return out;
    }

    // ------------------------------------------------------------------ values of a valid event

    /** Whether the record last given to {@link #rejectReasonOf(byte[])} was ASCII. */
    public boolean lastWasAscii() {
        return lastWasAscii;
    }

    /**
     * The character offset in the payload of the opening quote of string property {@code i} of the
     * record last read, or -1 when it holds no string. With an ASCII record given as bytes, the
     * value's bytes start one after it (when it has no escapes: the caller checks).
     */
    public int textOffset(int i) {
        return kind[i] == STRING ? textOffset[i] : -1;
    }

    /**
     * The value of property {@code i} of the record last given to {@link #rejectReason}, typed as
     * the job's SQL columns hold it (String, Double, Integer, Boolean, or null when absent or JSON
     * null). Only meaningful when that record was valid. An integer outside the 32-bit range is
     * null, as {@code TRY_CAST(... AS INT)} makes it.
     */
    public @Nullable Object value(int i) {
        byte k = kind[i];
        if (k == ABSENT || k == NULL) {
            return null;
        }
        switch (fields[i].type) {
            case STRING:
                return text[i];
            case NUMBER:
                return number[i];
            case INTEGER:
                return fitsInt[i] ? intValue[i] : null;
            case BOOLEAN:
                return k == TRUE;
            default:
                throw new IllegalStateException("unknown type of " + fields[i].name);
        }
    }

    /**
     * A valid event time (yyyy-MM-ddTHH:mm:ss[.f{1,3}]Z, already checked) as a LocalDateTime in
     * UTC, with the fraction read as milliseconds the way TO_TIMESTAMP reads it (.2 is 200 ms).
     */
    public static LocalDateTime eventTime(String s) {
        int millis = 0;
        if (s.length() > 20 && s.charAt(19) == '.') {
            int end = s.length() - 1; // the final 'Z'
            String fraction = (s.substring(20, end) + "00").substring(0, 3);
            millis = digits(fraction, 0, 3);
        }
        return LocalDateTime.of(
                digits(s, 0, 4), digits(s, 5, 2), digits(s, 8, 2),
                digits(s, 11, 2), digits(s, 14, 2), digits(s, 17, 2), millis * 1_000_000);
    }

    // ------------------------------------------------------------------ parsing

    /**
     * Fills the per-field slots; NOT_JSON / NOT_AN_OBJECT, or null for an object. {@code
     * fromBytes}: {@code p} reads bytes (its offsets count bytes from the record's first), not chars.
     */
    private @Nullable String read(JsonParser p, boolean fromBytes) throws IOException {
        Arrays.fill(kind, ABSENT);
        Arrays.fill(text, null);
        otherKeysSeen.clear();
        JsonToken t = p.nextToken();
        if (t == null) {
            return NOT_JSON; // no content
        }
        if (t != JsonToken.START_OBJECT) {
            consume(p, t);
            return p.nextToken() == null ? NOT_AN_OBJECT : NOT_JSON;
        }
        String name;
        boolean duplicate = false;
        for (int position = 0; (name = p.nextFieldName()) != null; position++) {
            // Keep reading: a syntax error later in the record is the stronger reason.
            int index = indexOf(name, position);
            JsonToken v = p.nextToken();
            if (index < 0) {
                duplicate |= !otherKeysSeen.add(name);
                consume(p, v);
            } else {
                duplicate |= kind[index] != ABSENT; // record() leaves no property it read ABSENT
                record(p, v, index, fromBytes);
            }
        }
        if (p.currentToken() != JsonToken.END_OBJECT) {
            return NOT_JSON;
        }
        // One JSON text per record: only whitespace may follow the object.
        if (p.nextToken() != null) {
            return NOT_JSON;
        }
        return duplicate ? DUPLICATE_KEY : null;
    }

    /** The schema index of the key read at this position of the object, -1 when not in the schema. */
    private int indexOf(String key, int position) {
        if (position < keyAt.length && keyAt[position] == key) {
            return indexAt[position];
        }
        Integer index = schema.indexByName.get(key);
        int i = index == null ? -1 : index;
        if (position < keyAt.length) {
            keyAt[position] = key;
            indexAt[position] = i;
        }
        return i;
    }

    /** Stores the value of a schema property (a later duplicate key overwrites it). */
    private void record(JsonParser p, JsonToken t, int i, boolean fromBytes) throws IOException {
        text[i] = null;
        switch (t) {
            case VALUE_STRING:
                kind[i] = STRING;
                text[i] = p.getText();
                JsonLocation quote = p.currentTokenLocation();
                textOffset[i] = (int) (fromBytes ? quote.getByteOffset() : quote.getCharOffset());
                break;
            case VALUE_NUMBER_INT:
                kind[i] = INT;
                Number n = p.getNumberValue();
                if (n instanceof Integer) {
                    fitsInt[i] = true;
                    intValue[i] = n.intValue();
                } else {
                    fitsInt[i] = false;
                }
                number[i] = p.getDoubleValue();
                break;
            case VALUE_NUMBER_FLOAT:
                if (recordShortDecimal(p, i)) {
                    break;
                }
                BigDecimal d = p.getDecimalValue();
                number[i] = d.doubleValue();
                if (d.scale() == 0) {
                    // Flink prints this BigDecimal without fraction or exponent (1.5e1 -> 15,
                    // 0e0 -> 0), so the SQL integer test accepts it: a whole number.
                    kind[i] = INT;
                    fitsInt[i] = d.compareTo(INT_MIN) >= 0 && d.compareTo(INT_MAX) <= 0;
                    intValue[i] = fitsInt[i] ? d.intValue() : 0;
                } else {
                    kind[i] = FLOAT;
                    fitsInt[i] = false;
                }
                break;
            case VALUE_TRUE:
                kind[i] = TRUE;
                break;
            case VALUE_FALSE:
                kind[i] = FALSE;
                break;
            case VALUE_NULL:
                kind[i] = NULL;
                break;
            case START_OBJECT:
            case START_ARRAY:
                consume(p, t);
                kind[i] = CONTAINER;
                break;
            default:
                throw new IOException("unexpected token " + t);
        }
    }

    /**
     * A float written as {@code -?digits.digits} with at most 15 digits (how events write prices
     * and scores, 0.1059), stored without a BigDecimal: its BigDecimal has a scale above 0 (a
     * FLOAT, never a whole number) and an unscaled value below 2^52, so the quotient by the power
     * of ten (both exact doubles) is the correctly rounded double that BigDecimal.doubleValue
     * gives, +0.0 for -0.0 as well (a BigDecimal has no negative zero). False for any other form
     * (an exponent, more digits), which BigDecimal reads as before.
     */
    private boolean recordShortDecimal(JsonParser p, int i) throws IOException {
        int length = p.getTextLength();
        if (length > 17) { // a sign, 15 digits and the point
            return false;
        }
        char[] chars = p.getTextCharacters();
        int k = p.getTextOffset();
        int end = k + length;
        boolean negative = chars[k] == '-';
        if (negative) {
            k++;
        }
        long unscaled = 0;
        int digits = 0;
        int fractionDigits = -1; // -1 until the point
        for (; k < end; k++) {
            char c = chars[k];
            if (c >= '0' && c <= '9') {
                unscaled = unscaled * 10 + (c - '0');
                digits++;
                if (fractionDigits >= 0) {
                    fractionDigits++;
                }
            } else if (c == '.' && fractionDigits < 0) {
                fractionDigits = 0;
            } else {
                return false; // an exponent
            }
        }
        if (fractionDigits <= 0 || digits > 15) {
            return false;
        }
        kind[i] = FLOAT;
        fitsInt[i] = false;
        number[i] = (negative ? -unscaled : unscaled) / POWERS_OF_TEN[fractionDigits];
        return true;
    }

    /**
     * Reads a whole value the way Jackson's untyped deserializer does when Flink parses the payload
     * (strings decoded, ints as numbers, floats as BigDecimal), so that what fails there fails here.
     */
    private static void consume(JsonParser p, JsonToken t) throws IOException {
        switch (t) {
            case START_OBJECT:
                while (p.nextFieldName() != null) {
                    consume(p, p.nextToken());
                }
                if (p.currentToken() != JsonToken.END_OBJECT) {
                    throw new IOException("unterminated object");
                }
                break;
            case START_ARRAY:
                JsonToken e;
                while ((e = p.nextToken()) != JsonToken.END_ARRAY) {
                    if (e == null) {
                        throw new IOException("unterminated array");
                    }
                    consume(p, e);
                }
                break;
            case VALUE_STRING:
                p.getText();
                break;
            case VALUE_NUMBER_INT:
                p.getNumberValue();
                break;
            case VALUE_NUMBER_FLOAT:
                p.getDecimalValue();
                break;
            case VALUE_TRUE:
            case VALUE_FALSE:
            case VALUE_NULL:
                break;
            default:
                throw new IOException("unexpected token " + t);
        }
    }

    // ------------------------------------------------------------------ checks

    private @Nullable String check(Field f) {
        int i = f.index;
        byte k = kind[i];
        boolean present = k != ABSENT && k != NULL;
        if (f.required && !present) {
            return f.missing;
        }
        if (f.requiredWhen >= 0 && kind[f.requiredWhen] == TRUE && !present) {
            return f.missing;
        }
        if (!present) {
            return null;
        }
        switch (f.type) {
            case STRING:
                return k == STRING ? checkString(f, text[i]) : f.wrongType;
            case BOOLEAN:
                return k == TRUE || k == FALSE ? null : f.wrongType;
            case INTEGER:
                if (k != INT) {
                    return f.wrongType;
                }
                // On the nearest double, like number: a whole number beyond the int range is
                // outside every bounded range, never a NULL that slips through.
                return outOfRange(f, number[i]) ? f.outOfRange : null;
            case NUMBER:
                if (k != INT && k != FLOAT) {
                    return f.wrongType;
                }
                return outOfRange(f, number[i]) ? f.outOfRange : null;
            default:
                throw new IllegalStateException(String.valueOf(f.type));
        }
    }

    private static boolean outOfRange(Field f, double v) {
        return (f.hasMinimum && v < f.minimum) || (f.hasMaximum && v > f.maximum);
    }

    private @Nullable String checkString(Field f, String s) {
        if (f.minLength >= 0 || f.maxLength >= 0) {
            int chars = s.codePointCount(0, s.length());
            if ((f.minLength >= 0 && chars < f.minLength) || (f.maxLength >= 0 && chars > f.maxLength)) {
                return f.outOfRange;
            }
        }
        if (f.enumValues != null && !f.enumValues.contains(s)) {
            return f.unknownValue;
        }
        if (f.pattern != null && !patternMatchers[f.index].reset(s).find()) {
            return f.unknownValue;
        }
        if (f.dateTime) {
            if (!isEventTime(s)) {
                return BAD_EVENT_TIME;
            }
            long millis = eventTime(s).toInstant(ZoneOffset.UTC).toEpochMilli();
            if (millis > clock.millis() + maxAheadMillis) {
                return FUTURE_EVENT_TIME;
            }
        }
        return null;
    }

    /** The SQL pattern (find semantics, like REGEXP) and a real date and time of day. */
    private boolean isEventTime(String s) {
        // find() like REGEXP, but '$' also matches before a final line terminator ("...Z\n"),
        // which the SQL then rejects when TO_TIMESTAMP fails on it: the match must reach the end.
        if (!eventTimeMatcher.reset(s).find() || eventTimeMatcher.end() != s.length()) {
            return false;
        }
        return isRealInstant(s);
    }

    /**
     * The first 19 characters (yyyy-MM-ddTHH:mm:ss, digits already checked by the pattern) name a
     * real instant: year 0001-9999, month 1-12, a day that month has (proleptic Gregorian leap
     * years, no 1582 gap), hour 0-23, minute and second 0-59. No 24:00, no leap second, no month
     * 13 or 30 February. Year 0000 is rejected as the SQL does (its DATE_FORMAT prints the year
     * of era, 0001, which does not match the text).
     */
    static boolean isRealInstant(String s) {
        int year = digits(s, 0, 4);
        int month = digits(s, 5, 2);
        int day = digits(s, 8, 2);
        int hour = digits(s, 11, 2);
        int minute = digits(s, 14, 2);
        int second = digits(s, 17, 2);
        if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
            return false;
        }
        return hour <= 23 && minute <= 59 && second <= 59;
    }

    private static int daysInMonth(int year, int month) {
        switch (month) {
            case 2:
                boolean leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
                return leap ? 29 : 28;
            case 4:
            case 6:
            case 9:
            case 11:
                return 30;
            default:
                return 31;
        }
    }

    private static int digits(String s, int from, int count) {
        int v = 0;
        for (int i = from; i < from + count; i++) {
            v = v * 10 + (s.charAt(i) - '0');
        }
        return v;
    }
}
