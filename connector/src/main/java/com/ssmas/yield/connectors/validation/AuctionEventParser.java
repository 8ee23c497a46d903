package com.ssmas.yield.connectors.validation;

import com.ssmas.yield.connectors.monitoring.JobMetrics;
import com.ssmas.yield.connectors.validation.EventSchema.Field;

import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.TypeInference;

import javax.annotation.Nullable;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code AUCTION_PARSE(payload)}: one row per record with its reject reason (NULL when valid) and,
 * for a valid event, every schema property as a typed column, from one parse of the payload.
 *
 * <p>It replaces ~25 JSON function calls per event, each of which parsed the whole payload into
 * a map (the largest cost of the job in the profile of {@code bench/profile_job.py}). The columns
 * are those of {@code tests/support/validation_sql.py} {@code typed_columns_sql()} (event_time excluded: the
 * job reads it from the source, where the watermark is), with the same values; the test holds
 * them equal record by record. A rejected record has only its reason.
 *
 * <p>A table function, not a scalar returning a ROW: the planner would copy a scalar call into
 * every field access and parse the payload once per column again.
 *
 * <p>The rows are Flink's internal data ({@link RowData}), so that no converter runs per field: a
 * string value of an ASCII record is a slice of the record's own bytes when it holds no escape,
 * never decoded and encoded again. The record is parsed once per thread for this function and the
 * source's {@code AUCTION_ROW_TIME} ({@link RecordVerdicts}).
 *
 * <pre>
 * SELECT s.payload, p.* FROM auction_stream AS s, LATERAL TABLE(AUCTION_PARSE(s.payload)) AS p
 * </pre>
 */
public class AuctionEventParser extends TableFunction<RowData> {

    private static final long serialVersionUID = 1L;

    public static final String REJECT_REASON = "reject_reason";
    public static final String EVENT_TIME = "event_time";

    /** Job.event.time.max.ahead: a later event time is FUTURE_EVENT_TIME. */
    private final long maxAheadMillis;

    private transient RecordVerdicts verdicts; // its thread's, shared with AUCTION_ROW_TIME
    private transient Thread owner; // the thread of verdicts
    private transient Map<String, StringData> reasons; // each reject reason as internal data, once
    private transient int[] columns; // schema index of each typed output column
    private transient JobMetrics metrics; // the job's records read / accepted / rejected by reason

    /** With the default tolerance (CREATE FUNCTION by class name). */
    public AuctionEventParser() {
        this(RejectReasonValidator.DEFAULT_MAX_AHEAD.toMillis());
    }

    /** The job builds it with Job.event.time.max.ahead (flink_jobs/pipeline.py). */
    public AuctionEventParser(long maxAheadMillis) {
        this.maxAheadMillis = maxAheadMillis;
    }

    @Override
    public void open(FunctionContext context) {
        EventSchema schema = EventSchema.fromClasspath();
        verdicts = RecordVerdicts.forThread(maxAheadMillis);
        owner = Thread.currentThread();
        reasons = new HashMap<>();
        columns = typedFields(schema).stream().mapToInt(f -> f.index).toArray();
        metrics = new JobMetrics(context.getMetricGroup());
    }

    /**
     * The payload arrives as Flink's internal StringData, the bytes the stream carried (the raw
     * format does not decode them), so that a record that is not UTF-8 is NOT_UTF8 rather than
     * read with U+FFFD in place of its bad bytes.
     */
    public void eval(@Nullable StringData payload) {
        if (owner != Thread.currentThread()) {
            verdicts = RecordVerdicts.forThread(maxAheadMillis);
            owner = Thread.currentThread();
        }
        String reason = verdicts.read(payload);
        metrics.count("recordsRead");
        GenericRowData row = new GenericRowData(columns.length + 1);
        if (reason != null) {
            metrics.countRejected(reason);
            row.setField(0, reasons.computeIfAbsent(reason, StringData::fromString));
            collect(row);
            return;
        }
        metrics.count("recordsAccepted");
        RejectReasonValidator validator = verdicts.validator;
        byte[] bytes = verdicts.lastRecord(); // this record's (it is valid, so not null)
        boolean ascii = verdicts.lastWasAscii();
        for (int c = 0; c < columns.length; c++) {
            int i = columns[c];
            Object value = validator.value(i);
            // Double, Integer and Boolean are their own internal data; only strings differ.
            row.setField(c + 1, value instanceof String
                    ? string(bytes, ascii, validator.textOffset(i), (String) value) : value);
        }
        collect(row);
    }

    /**
     * A string value as internal data: the slice of the record's bytes between its quotes when the
     * record is ASCII (character offsets are byte offsets) and the value has no escape (the bytes
     * between the quotes are then exactly the value), else the value encoded.
     */
    static StringData string(byte[] record, boolean ascii, int quote, String value) {
        int start = quote + 1;
        int end = start + value.length();
        if (ascii && quote >= 0 && end < record.length && record[quote] == '"' && record[end] == '"') {
            boolean plain = true;
            for (int k = start; k < end; k++) {
                if (record[k] == '\\') {
                    plain = false;
                    break;
                }
            }
            if (plain) {
                return StringData.fromBytes(record, start, value.length());
            }
        }
        return StringData.fromString(value);
    }

    /** The schema properties that become columns, in schema order. */
    static List<Field> typedFields(EventSchema schema) {
        List<Field> out = new ArrayList<>();
        for (Field f : schema.fields) {
            if (!EVENT_TIME.equals(f.name)) {
                out.add(f);
            }
        }
        return out;
    }

    static DataType outputType(EventSchema schema) {
        List<DataTypes.Field> out = new ArrayList<>();
        out.add(DataTypes.FIELD(REJECT_REASON, DataTypes.STRING()));
        for (Field f : typedFields(schema)) {
            out.add(DataTypes.FIELD(f.name, sqlType(f)));
        }
        return DataTypes.ROW(out.toArray(new DataTypes.Field[0]));
    }

    private static DataType sqlType(Field f) {
        switch (f.type) {
            case STRING:
                return DataTypes.STRING();
            case NUMBER:
                return DataTypes.DOUBLE();
            case INTEGER:
                return DataTypes.INT();
            case BOOLEAN:
                return DataTypes.BOOLEAN();
            default:
                throw new IllegalArgumentException("unsupported type of " + f.name);
        }
    }

    @Override
    public TypeInference getTypeInference(DataTypeFactory typeFactory) {
        DataType output = outputType(EventSchema.fromClasspath()).bridgedTo(RowData.class);
        return TypeInference.newBuilder()
                .typedArguments(DataTypes.STRING().bridgedTo(StringData.class))
                .outputTypeStrategy(call -> Optional.of(output))
                .build();
    }
}
