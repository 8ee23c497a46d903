package com.ssmas.yield.connectors.validation;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

import javax.annotation.Nullable;

/**
 * {@code UTF8_TEXT(payload)}: a record's bytes as readable text that every reader can hold, each
 * invalid UTF-8 sequence replaced by U+FFFD. A record that is UTF-8 comes back unchanged.
 *
 * <p>The replacement is the WHATWG Encoding Standard's UTF-8 decode (one U+FFFD per maximal
 * subpart of an ill-formed sequence, Unicode's recommended practice), which is also what Python's
 * {@code bytes.decode("utf-8", "replace")} and a browser's TextDecoder give: anyone can check the
 * text against the exact bytes. The JDK's own decoder differs ({@code ED A0 80}, an encoded
 * surrogate, is one U+FFFD there and three here), so it is not used.
 *
 * <p>The job's source reads each record into a STRING column without decoding it (the raw
 * format keeps the bytes), so a record that is not UTF-8 sits in that column as is. Written to
 * a Parquet STRING column it makes the file unreadable to pandas, pyarrow's {@code to_pandas}
 * and DuckDB, whole partition at once. raw_errors therefore stores the exact bytes
 * ({@code CAST(payload AS BYTES)}) and this rendering ({@code schemas/sql/raw_errors.sql}).
 *
 * <pre>
 * CREATE TEMPORARY SYSTEM FUNCTION UTF8_TEXT
 *   AS 'com.ssmas.yield.connectors.validation.Utf8Text' LANGUAGE JAVA;
 * </pre>
 */
public class Utf8Text extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    private static final char REPLACEMENT = '\ufffd';

    public @Nullable String eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) @Nullable StringData payload) {
        return payload == null ? null : text(payload.toBytes());
    }

    /** The bytes decoded as UTF-8, each maximal ill-formed subpart replaced by U+FFFD (WHATWG). */
    public static String text(byte[] bytes) {
        StringBuilder out = new StringBuilder(bytes.length);
        int needed = 0; // continuation bytes still expected
        int seen = 0;
        int codePoint = 0;
        int lower = 0x80; // the range the next continuation byte must be in
        int upper = 0xBF;
        for (int i = 0; i < bytes.length; i++) {
            int b = bytes[i] & 0xff;
            if (needed == 0) {
                if (b <= 0x7f) {
                    out.append((char) b);
                } else if (b >= 0xc2 && b <= 0xdf) {
                    needed = 1;
                    codePoint = b & 0x1f;
                } else if (b >= 0xe0 && b <= 0xef) {
                    lower = b == 0xe0 ? 0xa0 : 0x80; // no overlong form
                    upper = b == 0xed ? 0x9f : 0xbf; // no UTF-16 surrogate
                    needed = 2;
                    codePoint = b & 0x0f;
                } else if (b >= 0xf0 && b <= 0xf4) {
                    lower = b == 0xf0 ? 0x90 : 0x80; // no overlong form
                    upper = b == 0xf4 ? 0x8f : 0xbf; // nothing beyond U+10FFFF
                    needed = 3;
                    codePoint = b & 0x07;
                } else {
                    out.append(REPLACEMENT);
                }
                continue;
            }
            if (b < lower || b > upper) {
                // The sequence ends here, ill-formed: one U+FFFD, and this byte starts afresh.
                needed = seen = codePoint = 0;
                lower = 0x80;
                upper = 0xbf;
                out.append(REPLACEMENT);
                i--;
                continue;
            }
            lower = 0x80;
            upper = 0xbf;
            codePoint = (codePoint << 6) | (b & 0x3f);
            if (++seen == needed) {
                out.appendCodePoint(codePoint);
                needed = seen = codePoint = 0;
            }
        }
        if (needed != 0) {
            out.append(REPLACEMENT); // cut short at the end
        }
        return out.toString();
    }
}
