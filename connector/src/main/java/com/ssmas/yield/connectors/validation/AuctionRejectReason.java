package com.ssmas.yield.connectors.validation;

import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

import javax.annotation.Nullable;

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

    private transient RejectReasonValidator validator;

    @Override
    public void open(FunctionContext context) {
        validator = new RejectReasonValidator(EventSchema.fromClasspath());
    }

    public @Nullable String eval(@Nullable String payload) {
        RejectReasonValidator v = validator;
        if (v == null) { // called without open(), e.g. constant folding at planning time
            v = validator = new RejectReasonValidator(EventSchema.fromClasspath());
        }
        return v.rejectReason(payload);
    }
}
