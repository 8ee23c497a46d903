package com.ssmas.yield.connectors.validation;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

import javax.annotation.Nullable;

import java.time.Clock;

/**
 * {@code AUCTION_REJECT_REASON(payload)}: why an auction event is rejected, or NULL when it is
 * valid. The same reasons, in the same order, as the CASE expression {@code
 * tests/support/validation_sql.py} generates from the JSON schema, but from one parse of the payload
 * instead of one per JSON function call. See {@link RejectReasonValidator} for the rules.
 *
 * <p>The schema is the classpath resource {@code auction_event.schema.json} (copied into the jar
 * from {@code schemas/} by connector/pom.xml), read once per function instance.
 *
 * <pre>
 * CREATE TEMPORARY SYSTEM FUNCTION AUCTION_REJECT_REASON
 *   AS 'com.ssmas.yield.connectors.validation.AuctionRejectReason' LANGUAGE JAVA;
 * SELECT AUCTION_REJECT_REASON(payload) AS reject_reason, ... FROM auction_stream;
 * </pre>
 */
public class AuctionRejectReason extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    /** Job.event.time.max.ahead: a later event time is FUTURE_EVENT_TIME. */
    private final long maxAheadMillis;

    private transient RejectReasonValidator validator;

    public AuctionRejectReason() {
        this(RejectReasonValidator.DEFAULT_MAX_AHEAD.toMillis());
    }

    public AuctionRejectReason(long maxAheadMillis) {
        this.maxAheadMillis = maxAheadMillis;
    }

    @Override
    public void open(FunctionContext context) {
        validator = newValidator();
    }

    private RejectReasonValidator newValidator() {
        return new RejectReasonValidator(EventSchema.fromClasspath(), maxAheadMillis, Clock.systemUTC());
    }

    public @Nullable String eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) @Nullable StringData payload) {
        RejectReasonValidator v = validator;
        if (v == null) { // called without open(), e.g. constant folding at planning time
            v = validator = newValidator();
        }
        return v.rejectReasonOf(payload == null ? null : payload.toBytes());
    }
}
