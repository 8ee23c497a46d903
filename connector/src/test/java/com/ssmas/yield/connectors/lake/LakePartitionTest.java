package com.ssmas.yield.connectors.lake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.utils.DateTimeUtils;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

/** The partition columns equal Flink's own DATE_FORMAT (DateTimeUtils.formatTimestamp), whatever the order of times. */
class LakePartitionTest {

    private static final List<LakePartition> COLUMNS =
            List.of(new LakePartition.Year(), new LakePartition.Month(), new LakePartition.Day(), new LakePartition.Hour());
    private static final List<String> PATTERNS = List.of("yyyy", "MM", "dd", "HH");

    private static void assertLikeDateFormat(long millis) {
        TimestampData ts = TimestampData.fromEpochMillis(millis);
        for (int i = 0; i < COLUMNS.size(); i++) {
            StringData text = COLUMNS.get(i).eval(ts);
            assertEquals(DateTimeUtils.formatTimestamp(ts, PATTERNS.get(i)), text.toString(),
                    PATTERNS.get(i) + " of " + ts);
        }
    }

    @Test
    void equalsDateFormatInTimeOrderAcrossHoursDaysAndYears() {
        long start = 1_545_000_000_000L; // December 2018
        for (long t = start; t < start + 800L * 86_400_000L; t += 611_017L) { // ~10 min steps over two new years
            assertLikeDateFormat(t);
        }
    }

    @Test
    void equalsDateFormatInAnyOrderAndAtTheEdgesOfAnHour() {
        Random random = new Random(7);
        for (int i = 0; i < 20_000; i++) {
            long hour = 3_600_000L * (random.nextInt(24 * 366 * 40) - 24 * 366 * 20); // 1950..2030
            long[] edges = {hour, hour + 3_599_999L, hour - 1, hour + random.nextInt(3_600_000)};
            for (long t : edges) {
                assertLikeDateFormat(t + 946_684_800_000L);
            }
        }
    }

    @Test
    void equalsDateFormatBeforeTheEpochAndForFarYears() {
        long[] times = {-1L, -3_600_000L, -3_600_001L, -62_135_596_800_000L, 253_402_300_799_999L, 0L};
        for (long t : times) {
            assertLikeDateFormat(t);
        }
    }

    @Test
    void reusesTheTextWithinAnHourAndNullStaysNull() {
        LakePartition hour = new LakePartition.Hour();
        StringData first = hour.eval(TimestampData.fromEpochMillis(7_200_000L));
        assertSame(first, hour.eval(TimestampData.fromEpochMillis(10_799_999L)));
        assertEquals("03", hour.eval(TimestampData.fromEpochMillis(10_800_000L)).toString());
        assertNull(hour.eval(null));
    }
}
