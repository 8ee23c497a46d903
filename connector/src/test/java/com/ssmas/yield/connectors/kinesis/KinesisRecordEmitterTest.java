package com.ssmas.yield.connectors.kinesis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.api.connector.source.SourceOutput;

import org.junit.jupiter.api.Test;

import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kinesis.model.Record;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The emitter turns a record into rows and moves the split's checkpoint position past it: a
 * checkpoint taken after a record resumes right after it, never before (duplicates) nor after
 * (loss).
 */
class KinesisRecordEmitterTest {

    private static final String SEQ_1 = "49590338271490256608559692538361571095921575989136588801";
    private static final String SEQ_2 = "49590338271490256608559692538361571095921575989136588802";

    /** Rows and their timestamps as the source operator would receive them. */
    private static final class CollectingOutput implements SourceOutput<String> {
        final List<String> rows = new ArrayList<>();
        final List<Long> timestamps = new ArrayList<>();

        @Override
        public void collect(String record) {
            rows.add(record);
            timestamps.add(null);
        }

        @Override
        public void collect(String record, long timestamp) {
            rows.add(record);
            timestamps.add(timestamp);
        }

        @Override
        public void emitWatermark(Watermark watermark) {}

        @Override
        public void markIdle() {}

        @Override
        public void markActive() {}
    }

    private static Record record(String sequenceNumber, String payload, Instant arrival) {
        return Record.builder()
                .sequenceNumber(sequenceNumber)
                .partitionKey("pk")
                .approximateArrivalTimestamp(arrival)
                .data(SdkBytes.fromUtf8String(payload))
                .build();
    }

    @Test
    void theCheckpointPositionFollowsTheLastEmittedRecord() throws Exception {
        KinesisRecordEmitter<String> emitter = new KinesisRecordEmitter<>(new SimpleStringSchema());
        KinesisShardSplit split =
                new KinesisShardSplit(KinesisTestSettings.STREAM_ARN, "shardId-000000000000",
                        List.of(), StartingPosition.trimHorizon(), false);
        KinesisShardSplitState state = new KinesisShardSplitState(split);
        CollectingOutput output = new CollectingOutput();

        assertEquals(split, state.toSplit(), "nothing emitted: restart where the split started");

        emitter.emitRecord(record(SEQ_1, "{\"a\":1}", Instant.parse("2024-05-01T10:00:00.123Z")), output, state);
        emitter.emitRecord(record(SEQ_2, "{\"a\":2}", null), output, state);

        assertEquals(List.of("{\"a\":1}", "{\"a\":2}"), output.rows);
        assertEquals(Instant.parse("2024-05-01T10:00:00.123Z").toEpochMilli(), output.timestamps.get(0),
                "the arrival time is the record's timestamp");
        assertNull(output.timestamps.get(1), "no arrival time: no timestamp");
        assertEquals(StartingPosition.afterSequenceNumber(SEQ_2), state.toSplit().getStartingPosition());
    }
}
