package com.ssmas.yield.connectors.lake;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.ScalarFunction;

import javax.annotation.Nullable;

import java.time.format.DateTimeFormatter;

/**
 * One hive partition column of the lake (year, month, day or hour) of a {@code TIMESTAMP(3)}: the
 * text {@code DATE_FORMAT(ts, pattern)} gives, for every timestamp.
 *
 * <p>Why not DATE_FORMAT: raw/ writes four partition columns per event, and DATE_FORMAT formats
 * each from scratch (a formatter, a print context and a new string per call; 4% of the full job in
 * {@code bench/job_throughput.py}). Every column of the lake's partitions is a function of the
 * hour, and the events of a reader come in near time order: each instance keeps the hour it last
 * formatted and its text, and formats again only when the hour changes. The text is immutable
 * internal data, so handing the same one to every row of the hour is safe.
 *
 * <p>The subclasses are the four columns, registered by class name ({@code flink_jobs/pipeline.py}).
 */
public abstract class LakePartition extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    private static final long HOUR_MILLIS = 3_600_000L;

    private final String pattern;

    private transient DateTimeFormatter formatter;
    private transient long lastHour;
    private transient @Nullable StringData lastText;

    protected LakePartition(String pattern) {
        this.pattern = pattern;
    }

    public @Nullable @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData eval(
            @DataTypeHint(value = "TIMESTAMP(3)", bridgedTo = TimestampData.class) @Nullable TimestampData ts) {
        if (ts == null) {
            return null;
        }
        long hour = Math.floorDiv(ts.getMillisecond(), HOUR_MILLIS);
        if (lastText == null || hour != lastHour) {
            if (formatter == null) {
                formatter = DateTimeFormatter.ofPattern(pattern);
            }
            lastText = StringData.fromString(ts.toLocalDateTime().format(formatter));
            lastHour = hour;
        }
        return lastText;
    }

    /** {@code LAKE_YEAR(ts)}: {@code DATE_FORMAT(ts, 'yyyy')}. */
    public static class Year extends LakePartition {
        private static final long serialVersionUID = 1L;

        public Year() {
            super("yyyy");
        }
    }

    /** {@code LAKE_MONTH(ts)}: {@code DATE_FORMAT(ts, 'MM')}. */
    public static class Month extends LakePartition {
        private static final long serialVersionUID = 1L;

        public Month() {
            super("MM");
        }
    }

    /** {@code LAKE_DAY(ts)}: {@code DATE_FORMAT(ts, 'dd')}. */
    public static class Day extends LakePartition {
        private static final long serialVersionUID = 1L;

        public Day() {
            super("dd");
        }
    }

    /** {@code LAKE_HOUR(ts)}: {@code DATE_FORMAT(ts, 'HH')}. */
    public static class Hour extends LakePartition {
        private static final long serialVersionUID = 1L;

        public Hour() {
            super("HH");
        }
    }
}
