package com.ssmas.yield.connectors.validation;

import com.ssmas.yield.connectors.RecordingMetricGroup;

import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.util.Collector;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * CPU cost of the per-record parse, not a test (surefire does not run it): ns per record of
 * {@link RejectReasonValidator#rejectReasonOf(byte[])} and of what the job runs per record
 * (AUCTION_ROW_TIME then AUCTION_PARSE on the same payload, one {@link RecordVerdicts} parse).
 * Also dumps every verdict and value, to compare two builds record by record.
 *
 * <pre>
 * cd connector && mvn -q dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt -Dmdep.includeScope=test
 * java -Xms1g -Xmx1g -cp target/test-classes:target/yield-connectors-1.0.0.jar:$(cat /tmp/cp.txt) \
 *     com.ssmas.yield.connectors.validation.ParseCostBenchmark bench FILE.jsonl 200000 8
 * ... ParseCostBenchmark dump FILE 200000 OUT [base64]   (then diff OUT of two builds' jars)
 * </pre>
 */
public final class ParseCostBenchmark {

    private ParseCostBenchmark() {}

    public static void main(String[] args) throws IOException {
        String mode = args[0];
        List<byte[]> records = read(args[1], Integer.parseInt(args[2]), args.length > 4 && "base64".equals(args[4]));
        if ("bench".equals(mode)) {
            bench(records, Integer.parseInt(args[3]));
        } else if ("dump".equals(mode)) {
            dump(records, args[3]);
        } else {
            throw new IllegalArgumentException("bench or dump, not " + mode);
        }
    }

    /** The first {@code limit} lines of the file as bytes (a line per record, or base64 of one). */
    private static List<byte[]> read(String file, int limit, boolean base64) throws IOException {
        List<byte[]> out = new ArrayList<>();
        try (InputStream in = new BufferedInputStream(Files.newInputStream(Paths.get(file)), 1 << 20)) {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            int b;
            while (out.size() < limit && (b = in.read()) >= 0) {
                if (b == '\n') {
                    byte[] bytes = line.toByteArray();
                    out.add(base64 ? Base64.getDecoder().decode(bytes) : bytes);
                    line.reset();
                } else {
                    line.write(b);
                }
            }
        }
        return out;
    }

    private static final class Rows implements Collector<RowData> {
        RowData last;
        long count;

        @Override
        public void collect(RowData row) {
            last = row;
            count++;
        }

        @Override
        public void close() {}
    }

    private static AuctionEventParser openedParser(Rows rows) {
        AuctionEventParser parser = new AuctionEventParser();
        parser.open(new FunctionContext(null) {
            @Override
            public MetricGroup getMetricGroup() {
                return new RecordingMetricGroup();
            }
        });
        parser.setCollector(rows);
        return parser;
    }

    private static void bench(List<byte[]> records, int repetitions) {
        StringData[] payloads = new StringData[records.size()];
        for (int i = 0; i < payloads.length; i++) {
            payloads[i] = StringData.fromBytes(records.get(i));
        }
        RejectReasonValidator validator = new RejectReasonValidator(EventSchema.fromClasspath());
        Rows rows = new Rows();
        AuctionEventParser parser = openedParser(rows);
        AuctionRowTime rowTime = new AuctionRowTime();
        rowTime.open(null);
        long sink = 0;
        for (int r = 0; r < repetitions; r++) {
            long start = System.nanoTime();
            for (byte[] record : records) {
                String reason = validator.rejectReasonOf(record);
                sink += reason == null ? 1 : reason.length();
            }
            long validatorNanos = System.nanoTime() - start;
            start = System.nanoTime();
            for (StringData payload : payloads) {
                sink += rowTime.eval(payload).getNano();
                parser.eval(payload);
            }
            long jobNanos = System.nanoTime() - start;
            System.out.printf("repetition %d: rejectReasonOf %.0f ns/record, AUCTION_ROW_TIME + AUCTION_PARSE"
                    + " %.0f ns/record%n", r, (double) validatorNanos / records.size(),
                    (double) jobNanos / records.size());
        }
        System.out.println("(" + records.size() + " records, " + rows.count + " rows, " + sink + ")");
    }

    /** Every verdict, value, string offset and output row, one line per record. */
    private static void dump(List<byte[]> records, String out) throws IOException {
        Clock clock = Clock.fixed(Instant.parse("2026-11-25T14:00:00Z"), ZoneOffset.UTC);
        EventSchema schema = EventSchema.fromClasspath();
        RejectReasonValidator validator = new RejectReasonValidator(schema, 300_000, clock);
        Rows rows = new Rows();
        AuctionEventParser parser = openedParser(rows);
        AuctionEventTime eventTime = new AuctionEventTime();
        int n = schema.fields.size();
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(Paths.get(out)))) {
            for (byte[] record : records) {
                StringBuilder line = new StringBuilder();
                line.append(validator.rejectReasonOf(record)).append(" ascii=").append(validator.lastWasAscii());
                for (int i = 0; i < n; i++) {
                    line.append(" | ").append(value(validator.value(i))).append('@').append(validator.textOffset(i));
                }
                line.append(" || time=").append(eventTime.eval(StringData.fromBytes(record)));
                // A payload inside a larger segment, as a slice of a bigger buffer would be.
                byte[] padded = new byte[record.length + 7];
                System.arraycopy(record, 0, padded, 3, record.length);
                parser.eval(StringData.fromBytes(padded, 3, record.length));
                GenericRowData row = (GenericRowData) rows.last;
                line.append(" || row");
                for (int c = 0; c < row.getArity(); c++) {
                    line.append(" | ").append(value(row.getField(c)));
                }
                w.println(line);
            }
        }
        System.out.println(records.size() + " records dumped to " + out);
    }

    private static String value(Object v) {
        if (v instanceof Double) {
            return Double.doubleToRawLongBits((Double) v) + "d";
        }
        if (v instanceof StringData) {
            return "s" + v;
        }
        return v == null ? "null" : v.getClass().getSimpleName() + v;
    }
}
