package com.ssmas.yield.connectors.validation;

import com.ssmas.yield.connectors.monitoring.JobMetrics;
import com.ssmas.yield.connectors.validation.EventSchema.Field;

import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.types.Row;

import javax.annotation.Nullable;

import java.util.ArrayList;
import java.util.List;
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
 * <p>The record is parsed once per thread for this function and the source's
 * {@code AUCTION_ROW_TIME} ({@link RecordVerdicts}).
 *
 * <pre>
 * SELECT s.payload, p.* FROM auction_stream AS s, LATERAL TABLE(AUCTION_PARSE(s.payload)) AS p
 * </pre>
 */
public class AuctionEventParser extends TableFunction<Row> {

    private static final long serialVersionUID = 1L;

    public static final String REJECT_REASON = "reject_reason";
    public static final String EVENT_TIME = "event_time";

    /** Job.event.time.max.ahead: a later event time is FUTURE_EVENT_TIME. */
    private final long maxAheadMillis;

    private transient RecordVerdicts verdicts; // its thread's, shared with AUCTION_ROW_TIME
    private transient Thread owner; // the thread of verdicts
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
        String reason = verdicts.read(payload == null ? null : payload.toBytes());
        metrics.count("recordsRead");
        if (reason == null) {
            metrics.count("recordsAccepted");
        } else {
            metrics.countRejected(reason);
        }
        Row row = new Row(columns.length + 1);
        row.setField(0, reason);
        if (reason == null) {
            for (int c = 0; c < columns.length; c++) {
                row.setField(c + 1, verdicts.validator.value(columns[c]));
            }
        }
        collect(row);
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
        DataType output = outputType(EventSchema.fromClasspath());
        return TypeInference.newBuilder()
                .typedArguments(DataTypes.STRING().bridgedTo(StringData.class))
                .outputTypeStrategy(call -> Optional.of(output))
                .build();
    }
}
