package com.ssmas.yield.connectors.dynamodb;

import com.ssmas.yield.connectors.RecordingMetricGroup;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.apache.flink.api.common.JobInfo;
import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.connector.base.sink.writer.config.AsyncSinkWriterConfiguration;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.SimpleCounter;
import org.apache.flink.metrics.groups.OperatorIOMetricGroup;
import org.apache.flink.metrics.groups.SinkWriterMetricGroup;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.types.logical.DoubleType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.VarCharType;
import org.apache.flink.types.RowKind;
import org.apache.flink.util.UserCodeClassLoader;
import org.apache.flink.util.function.ThrowingRunnable;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The sink writer as Flink runs it (the base async writer's buffering, flush and mailbox), in
 * conditional mode over {@link FakeDynamoDb}: a replayed older floor leaves the newer one and is
 * counted in {@code dynamodb.floorsSkippedAsOlder} under the writer's metric group.
 */
class DynamoDbSinkWriterTest {

    private static final String[] COLUMNS = {"level", "segment_key", "floor_eur", "window_end"};
    private static final LogicalType[] TYPES = {
        new VarCharType(VarCharType.MAX_LENGTH), new VarCharType(VarCharType.MAX_LENGTH),
        new DoubleType(), new VarCharType(VarCharType.MAX_LENGTH)};

    private static GenericRowData floor(String segment, double floorEur, String windowEnd) {
        return GenericRowData.ofKind(RowKind.INSERT, StringData.fromString("fine"),
                StringData.fromString(segment), floorEur, StringData.fromString(windowEnd));
    }

    @Test
    void aReplayedOlderFloorIsSkippedAndCountedUnderTheWritersGroup() throws Exception {
        FakeDynamoDb dynamo = new FakeDynamoDb();
        Context context = new Context();
        AsyncSinkWriterConfiguration config = AsyncSinkWriterConfiguration.builder()
                .setMaxBatchSize(25)
                .setMaxBatchSizeInBytes(16L * 1024 * 1024)
                .setMaxInFlightRequests(1)
                .setMaxBufferedRequests(100)
                .setMaxTimeInBufferMS(60_000)
                .setMaxRecordSizeInBytes(400L * 1024)
                .build();
        try (DynamoDbSinkWriter writer = new DynamoDbSinkWriter(
                new RowDataToDynamoDbConverter(COLUMNS, TYPES, new int[] {0, 1}),
                context, config, List.of(), "floors", false, dynamo, "level", "window_end")) {
            writer.write(floor("a", 0.90, "2026-11-25T16:00:00.000Z"), null);
            writer.write(floor("b", 0.50, "2026-11-25T16:00:00.000Z"), null);
            writer.flush(true);
            // the replay: an older window for a, the same window again for b
            writer.write(floor("a", 0.80, "2026-11-25T15:00:00.000Z"), null);
            writer.write(floor("b", 0.55, "2026-11-25T16:00:00.000Z"), null);
            writer.flush(true);
        }
        assertEquals("0.9", dynamo.get("fine", "a").get("floor_eur").n());
        assertEquals("0.55", dynamo.get("fine", "b").get("floor_eur").n());
        assertEquals(1, context.metrics.count("dynamodb.floorsSkippedAsOlder"));
        assertEquals(3, context.metrics.count("dynamodb.writtenEntries"));
        assertEquals(0, context.metrics.count("dynamodb.retriedEntries"));
        assertEquals(4, dynamo.putCalls.get());
    }

    /** A sink writer metric group whose counters a RecordingMetricGroup keeps by dotted path. */
    private static final class Metrics extends UnregisteredMetricsGroup implements SinkWriterMetricGroup {
        private final RecordingMetricGroup recorded = new RecordingMetricGroup();

        long count(String name) {
            return recorded.count(name);
        }

        @Override
        public Counter counter(String name) {
            return recorded.counter(name);
        }

        @Override
        public <C extends Counter> C counter(String name, C counter) {
            return recorded.counter(name, counter);
        }

        @Override
        public MetricGroup addGroup(String name) {
            return recorded.addGroup(name);
        }

        @Override
        public OperatorIOMetricGroup getIOMetricGroup() {
            return UnregisteredMetricsGroup.createOperatorIOMetricGroup();
        }

        @Override
        public Counter getNumRecordsOutErrorsCounter() {
            return new SimpleCounter();
        }

        @Override
        public Counter getNumRecordsSendErrorsCounter() {
            return new SimpleCounter();
        }

        @Override
        public Counter getNumRecordsSendCounter() {
            return new SimpleCounter();
        }

        @Override
        public Counter getNumBytesSendCounter() {
            return new SimpleCounter();
        }

        @Override
        public void setCurrentSendTimeGauge(Gauge<Long> gauge) {}
    }

    /** A mailbox the test thread drains in yield(), as the task's mailbox thread would. */
    private static final class Mailbox implements MailboxExecutor {
        private final BlockingQueue<ThrowingRunnable<? extends Exception>> mails = new LinkedBlockingQueue<>();

        @Override
        public void execute(MailOptions options, ThrowingRunnable<? extends Exception> command,
                String description, Object... args) {
            mails.add(command);
        }

        @Override
        public void yield() throws InterruptedException {
            ThrowingRunnable<? extends Exception> mail = mails.poll(30, TimeUnit.SECONDS);
            if (mail == null) {
                throw new AssertionError("no mail within 30 s");
            }
            run(mail);
        }

        @Override
        public boolean tryYield() {
            ThrowingRunnable<? extends Exception> mail = mails.poll();
            if (mail == null) {
                return false;
            }
            run(mail);
            return true;
        }

        private static void run(ThrowingRunnable<? extends Exception> mail) {
            try {
                mail.run();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }

        @Override
        public boolean shouldInterrupt() {
            return false;
        }
    }

    private static final java.util.concurrent.ScheduledExecutorService TIMERS =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "test-timers");
                t.setDaemon(true);
                return t;
            });

    private static final class Context implements WriterInitContext {
        final Metrics metrics = new Metrics();
        final Mailbox mailbox = new Mailbox();

        @Override
        public UserCodeClassLoader getUserCodeClassLoader() {
            throw new UnsupportedOperationException();
        }

        @Override
        public MailboxExecutor getMailboxExecutor() {
            return mailbox;
        }

        @Override
        public ProcessingTimeService getProcessingTimeService() {
            return new ProcessingTimeService() {
                @Override
                public long getCurrentProcessingTime() {
                    return System.currentTimeMillis();
                }

                @Override
                public ScheduledFuture<?> registerTimer(long timestamp, ProcessingTimeCallback target) {
                    // the test flushes explicitly: buffer and request-timeout timers never fire
                    return TIMERS.schedule(() -> { }, 1, TimeUnit.DAYS);
                }
            };
        }

        @Override
        public SinkWriterMetricGroup metricGroup() {
            return metrics;
        }

        @Override
        public SerializationSchema.InitializationContext asSerializationSchemaInitializationContext() {
            throw new UnsupportedOperationException();
        }

        @Override
        public boolean isObjectReuseEnabled() {
            return false;
        }

        @Override
        public <IN> TypeSerializer<IN> createInputSerializer() {
            throw new UnsupportedOperationException();
        }

        @Override
        public OptionalLong getRestoredCheckpointId() {
            return OptionalLong.empty();
        }

        @Override
        public JobInfo getJobInfo() {
            throw new UnsupportedOperationException();
        }

        @Override
        public TaskInfo getTaskInfo() {
            throw new UnsupportedOperationException();
        }
    }

}
