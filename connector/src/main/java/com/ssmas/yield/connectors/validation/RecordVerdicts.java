package com.ssmas.yield.connectors.validation;

import javax.annotation.Nullable;

import java.time.Clock;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * One parse per record and thread for the functions that read the same payload one after the
 * other: the source's {@code AUCTION_ROW_TIME} (the rowtime the watermark is computed from) and
 * {@code AUCTION_PARSE} right after it in the same operator chain. Before, each parsed the record
 * itself: the job parsed every record twice (bench/job_throughput.py).
 *
 * <p>Each thread keeps, per tolerance ({@code Job.event.time.max.ahead}), a validator and a copy of
 * the last record it read. A record whose bytes equal that copy gets that verdict and those values
 * again instead of a second parse; any other record is parsed. The verdict is therefore the one
 * of the record's first read on the thread: FUTURE_EVENT_TIME is decided against the clock then,
 * microseconds before the second function asks. The copy (not the caller's array) is compared, so
 * a buffer reused by a caller can never pass for the record read before.
 *
 * <p>Not shared between threads: Flink runs a function instance's calls on its task thread.
 */
final class RecordVerdicts {

    private static final ThreadLocal<Map<Long, RecordVerdicts>> PER_THREAD =
            ThreadLocal.withInitial(HashMap::new);

    final RejectReasonValidator validator;
    private byte[] last = new byte[0];
    private boolean hasLast;
    private @Nullable String reason;
    private boolean lastWasAscii;

    private RecordVerdicts(long maxAheadMillis) {
        this.validator = new RejectReasonValidator(EventSchema.fromClasspath(), maxAheadMillis, Clock.systemUTC());
    }

    /** This thread's verdicts for the tolerance. */
    static RecordVerdicts forThread(long maxAheadMillis) {
        return PER_THREAD.get().computeIfAbsent(maxAheadMillis, RecordVerdicts::new);
    }

    /**
     * The reject reason of the record (null: valid); afterwards {@link #validator} holds its values.
     * A null record is NOT_JSON and is not remembered.
     */
    @Nullable String read(@Nullable byte[] record) {
        if (record == null) {
            hasLast = false;
            return validator.rejectReasonOf(null);
        }
        if (hasLast && Arrays.equals(last, record)) {
            return reason;
        }
        reason = validator.rejectReasonOf(record);
        lastWasAscii = validator.lastWasAscii();
        if (last.length != record.length) {
            last = new byte[record.length];
        }
        System.arraycopy(record, 0, last, 0, record.length);
        hasLast = true;
        return reason;
    }

    /** Whether the record last read was ASCII, so that its character offsets are byte offsets. */
    boolean lastWasAscii() {
        return hasLast && lastWasAscii;
    }
}
