package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.connector.source.Boundedness;
import org.apache.flink.api.connector.source.Source;
import org.apache.flink.api.connector.source.SourceReader;
import org.apache.flink.api.connector.source.SourceReaderContext;
import org.apache.flink.api.connector.source.SplitEnumerator;
import org.apache.flink.api.connector.source.SplitEnumeratorContext;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.util.UserCodeClassLoader;

/** FLIP-27 source reading one Kinesis data stream by polling (GetRecords). Unbounded. */
public class KinesisSource<T>
        implements Source<T, KinesisShardSplit, KinesisEnumeratorState>, ResultTypeQueryable<T> {

    private static final long serialVersionUID = 1L;

    private final KinesisSourceSettings settings;
    private final DeserializationSchema<T> deserializer;

    public KinesisSource(KinesisSourceSettings settings, DeserializationSchema<T> deserializer) {
        this.settings = settings;
        this.deserializer = deserializer;
    }

    @Override
    public Boundedness getBoundedness() {
        return Boundedness.CONTINUOUS_UNBOUNDED;
    }

    @Override
    public SourceReader<T, KinesisShardSplit> createReader(SourceReaderContext readerContext)
            throws Exception {
        deserializer.open(
                new DeserializationSchema.InitializationContext() {
                    @Override
                    public MetricGroup getMetricGroup() {
                        return readerContext.metricGroup().addGroup("deserializer");
                    }

                    @Override
                    public UserCodeClassLoader getUserCodeClassLoader() {
                        return readerContext.getUserCodeClassLoader();
                    }
                });
        Configuration config = new Configuration();
        config.addAll(readerContext.getConfiguration());
        // once per reader: the split readers Flink creates over time share these metrics
        KinesisReaderMetrics metrics = new KinesisReaderMetrics(readerContext.metricGroup());
        return new KinesisSourceReader<>(
                () -> new KinesisShardSplitReader(settings, metrics),
                new KinesisRecordEmitter<>(deserializer),
                config,
                readerContext);
    }

    @Override
    public SplitEnumerator<KinesisShardSplit, KinesisEnumeratorState> createEnumerator(
            SplitEnumeratorContext<KinesisShardSplit> enumContext) {
        return new KinesisShardEnumerator(enumContext, settings, null);
    }

    @Override
    public SplitEnumerator<KinesisShardSplit, KinesisEnumeratorState> restoreEnumerator(
            SplitEnumeratorContext<KinesisShardSplit> enumContext,
            KinesisEnumeratorState checkpoint) {
        return new KinesisShardEnumerator(enumContext, settings, checkpoint);
    }

    @Override
    public SimpleVersionedSerializer<KinesisShardSplit> getSplitSerializer() {
        return KinesisShardSplitSerializer.INSTANCE;
    }

    @Override
    public SimpleVersionedSerializer<KinesisEnumeratorState> getEnumeratorCheckpointSerializer() {
        return new KinesisEnumeratorStateSerializer();
    }

    @Override
    public TypeInformation<T> getProducedType() {
        return deserializer.getProducedType();
    }
}
