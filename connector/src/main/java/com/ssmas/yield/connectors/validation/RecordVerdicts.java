package com.ssmas.yield.connectors.validation;

import org.apache.flink.core.memory.MemorySegment;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinarySection;
import org.apache.flink.table.data.binary.BinaryStringData;

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
 * <p>A payload held in one heap segment (what the source gives) is compared and copied from that
 * segment: one copy of a record per thread instead of one per function call plus this one.
 *
 * <p>Not shared between threads: Flink runs a function instance's calls on its task thread.
 */
final class RecordVerdicts {

    private static final ThreadLocal<Map<Long, RecordVerdicts>> PER_THREAD =
            ThreadLocal.withInitial(HashMap::new);

    final RejectReasonValidator validator;
    /** The record last read; a new array each time, never written to (rows hold slices of it). */
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
        return read(record, 0, record.length);
    }

    /** As {@link #read(byte[])} for the payload's bytes, read where they are when on the heap. */
    @Nullable String read(@Nullable StringData payload) {
        if (payload instanceof BinaryStringData) {
            BinarySection section = ((BinaryStringData) payload).getBinarySection(); // null: a String
            if (section != null && section.getSegments().length == 1) {
                MemorySegment segment = section.getSegments()[0];
                int from = section.getOffset();
                int length = section.getSizeInBytes();
                if (!segment.isOffHeap() && from >= 0 && length >= 0 && from + length <= segment.size()) {
                    return read(segment.getArray(), from, length);
                }
            }
        }
        return read(payload == null ? null : payload.toBytes());
    }

    /** The record {@code record[from, from + length)}, which the caller may change afterwards. */
    private @Nullable String read(byte[] record, int from, int length) {
        if (hasLast && Arrays.equals(last, 0, last.length, record, from, from + length)) {
            return reason;
        }
        hasLast = false; // until the new record's verdict is in
        last = Arrays.copyOfRange(record, from, from + length);
        reason = validator.rejectReasonOf(last);
        lastWasAscii = validator.lastWasAscii();
        hasLast = true;
        return reason;
    }

    /**
     * The bytes of the record last read (not null), which {@link RejectReasonValidator#textOffset}
     * points into. Never changed: a row may keep slices of it.
     */
    byte[] lastRecord() {
        return last;
    }

    /** Whether the record last read was ASCII, so that its character offsets are byte offsets. */
    boolean lastWasAscii() {
        return hasLast && lastWasAscii;
    }
}
