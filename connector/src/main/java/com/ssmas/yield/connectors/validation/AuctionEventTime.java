package com.ssmas.yield.connectors.validation;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

import javax.annotation.Nullable;

import java.time.Clock;
import java.time.LocalDateTime;

/**
 * {@code AUCTION_EVENT_TIME(payload)}: the event time of a valid auction event, NULL for a
 * rejected record (FUTURE_EVENT_TIME included), which then never reaches a window nor moves the
 * watermark.
 *
 * <p>Used in the source table's computed event_time column, where the watermark is defined: it
 * costs one streaming parse instead of the JSON_VALUE, REGEXP, TO_TIMESTAMP and DATE_FORMAT
 * round trip of {@code tests/support/validation_sql.py} {@code event_time_sql()}, whose value it equals
 * for every valid event.
 */
public class AuctionEventTime extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    /** Job.event.time.max.ahead: a later event time is rejected, so it has no event time here. */
    private final long maxAheadMillis;

    private transient RejectReasonValidator validator;
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
        validator = new RejectReasonValidator(schema, maxAheadMillis, Clock.systemUTC());
        Integer index = schema.indexByName.get(AuctionEventParser.EVENT_TIME);
        if (index == null) {
            throw new IllegalStateException("the event schema has no property " + AuctionEventParser.EVENT_TIME);
        }
        eventTimeIndex = index;
    }

    public @Nullable @DataTypeHint("TIMESTAMP(3)") LocalDateTime eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) @Nullable StringData payload) {
        if (validator == null) { // called without open(), e.g. constant folding at planning time
            init();
        }
        if (validator.rejectReasonOf(payload == null ? null : payload.toBytes()) != null) {
            return null;
        }
        Object text = validator.value(eventTimeIndex);
        return text == null ? null : RejectReasonValidator.eventTime((String) text);
    }
}
