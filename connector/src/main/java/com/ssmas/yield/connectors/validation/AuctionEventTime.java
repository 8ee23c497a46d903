package com.ssmas.yield.connectors.validation;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

import javax.annotation.Nullable;

import java.time.LocalDateTime;

/**
 * {@code AUCTION_EVENT_TIME(payload)}: the event time of a valid auction event, NULL for a
 * rejected record (FUTURE_EVENT_TIME included), which then never reaches a window nor moves the
 * watermark.
 *
 * <p>Used in the source table's computed event_time column, where the watermark is defined: it
 * costs one streaming parse instead of the JSON_VALUE, REGEXP, TO_TIMESTAMP and DATE_FORMAT
 * round trip of {@code tests/support/validation_sql.py} {@code event_time_sql()}, whose value it equals
 * for every valid event. The parse is shared with {@code AUCTION_PARSE} of the same record
 * ({@link RecordVerdicts}).
 */
public class AuctionEventTime extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    /** Job.event.time.max.ahead: a later event time is rejected, so it has no event time here. */
    private final long maxAheadMillis;

    private transient RecordVerdicts verdicts; // its thread's, shared with AUCTION_PARSE
    private transient Thread owner; // the thread of verdicts
    private transient int eventTimeIndex;

    public AuctionEventTime() {
        this(RejectReasonValidator.DEFAULT_MAX_AHEAD.toMillis());
    }

    /** The job builds it with Job.event.time.max.ahead (flink_jobs/pipeline.py). */
    public AuctionEventTime(long maxAheadMillis) {
        this.maxAheadMillis = maxAheadMillis;
    }

    @Override
    public void open(FunctionContext context) {
        init();
    }

    private void init() {
        EventSchema schema = EventSchema.fromClasspath();
        verdicts = RecordVerdicts.forThread(maxAheadMillis);
        owner = Thread.currentThread();
        Integer index = schema.indexByName.get(AuctionEventParser.EVENT_TIME);
        if (index == null) {
            throw new IllegalStateException("the event schema has no property " + AuctionEventParser.EVENT_TIME);
        }
        eventTimeIndex = index;
    }

    public @Nullable @DataTypeHint("TIMESTAMP(3)") LocalDateTime eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) @Nullable StringData payload) {
        // Without open() (constant folding at planning time), or on another thread than open()'s.
        if (owner != Thread.currentThread()) {
            init();
        }
        if (verdicts.read(payload) != null) {
            return null;
        }
        Object text = verdicts.validator.value(eventTimeIndex);
        return text == null ? null : RejectReasonValidator.eventTime((String) text);
    }
}
