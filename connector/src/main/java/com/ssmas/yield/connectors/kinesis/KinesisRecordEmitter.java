package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.connector.source.SourceOutput;
import org.apache.flink.connector.base.source.reader.RecordEmitter;
import org.apache.flink.util.Collector;

import software.amazon.awssdk.services.kinesis.model.Record;

/**
 * Deserializes a Kinesis record with the table's format, emits the rows with the record's
 * approximate arrival time as timestamp, then advances the split state to the record's sequence
 * number (so a checkpoint taken after this record resumes after it).
 */
public class KinesisRecordEmitter<T> implements RecordEmitter<Record, T, KinesisShardSplitState> {

    private final DeserializationSchema<T> deserializer;
    private final ForwardingCollector<T> collector = new ForwardingCollector<>();

    public KinesisRecordEmitter(DeserializationSchema<T> deserializer) {
        this.deserializer = deserializer;
    }

    @Override
    public void emitRecord(Record record, SourceOutput<T> output, KinesisShardSplitState state)
            throws Exception {
        collector.output = output;
        collector.timestamp =
                record.approximateArrivalTimestamp() == null
                        ? Long.MIN_VALUE
                        : record.approximateArrivalTimestamp().toEpochMilli();
        deserializer.deserialize(record.data().asByteArrayUnsafe(), collector);
        state.setLastEmittedSequenceNumber(record.sequenceNumber());
    }

    private static final class ForwardingCollector<T> implements Collector<T> {
        SourceOutput<T> output;
        long timestamp;

        @Override
        public void collect(T value) {
            if (timestamp == Long.MIN_VALUE) {
                output.collect(value);
            } else {
                output.collect(value, timestamp);
            }
        }

        @Override
        public void close() {}
    }
}
