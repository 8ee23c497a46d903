package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.ProviderContext;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DataStreamScanProvider;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.ScanTableSource;
import org.apache.flink.table.connector.source.abilities.SupportsWatermarkPushDown;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;

/**
 * Table-API face of {@link KinesisSource}: payload decoded by the table's format.
 *
 * <p>Accepts the table's WATERMARK strategy ({@link SupportsWatermarkPushDown}) so that
 * watermarks are generated per shard inside the source reader and combined as the minimum over
 * shards. Generated after the source instead, one shard read ahead (a catch-up after a restart,
 * or a backlog read from TRIM_HORIZON) would push the watermark past the records of a shard read
 * behind it, and those would be dropped as late.
 */
public class KinesisDynamicSource implements ScanTableSource, SupportsWatermarkPushDown {

    private static final String SOURCE_UID = "kinesis-source";

    private final KinesisSourceSettings settings;
    private final DecodingFormat<DeserializationSchema<RowData>> decodingFormat;
    private final DataType physicalDataType;
    private WatermarkStrategy<RowData> watermarkStrategy = WatermarkStrategy.noWatermarks();

    public KinesisDynamicSource(
            KinesisSourceSettings settings,
            DecodingFormat<DeserializationSchema<RowData>> decodingFormat,
            DataType physicalDataType) {
        this.settings = settings;
        this.decodingFormat = decodingFormat;
        this.physicalDataType = physicalDataType;
    }

    @Override
    public ChangelogMode getChangelogMode() {
        return decodingFormat.getChangelogMode();
    }

    @Override
    public void applyWatermark(WatermarkStrategy<RowData> strategy) {
        this.watermarkStrategy = strategy;
    }

    @Override
    public ScanRuntimeProvider getScanRuntimeProvider(ScanContext context) {
        DeserializationSchema<RowData> deserializer =
                decodingFormat.createRuntimeDecoder(context, physicalDataType);
        KinesisSource<RowData> source = new KinesisSource<>(settings, deserializer);
        WatermarkStrategy<RowData> strategy = watermarkStrategy;
        String name = asSummaryString();
        return new DataStreamScanProvider() {
            @Override
            public DataStream<RowData> produceDataStream(
                    ProviderContext providerContext, StreamExecutionEnvironment execEnv) {
                DataStreamSource<RowData> stream = execEnv.fromSource(source, strategy, name);
                // A stable uid keeps shard positions restorable from a savepoint.
                providerContext.generateUid(SOURCE_UID).ifPresent(stream::uid);
                return stream;
            }

            @Override
            public boolean isBounded() {
                return false;
            }
        };
    }

    @Override
    public DynamicTableSource copy() {
        KinesisDynamicSource copy =
                new KinesisDynamicSource(settings, decodingFormat, physicalDataType);
        copy.watermarkStrategy = watermarkStrategy;
        return copy;
    }

    /** For tests: what the options were read into. */
    KinesisSourceSettings settings() {
        return settings;
    }

    @Override
    public String asSummaryString() {
        return "Kinesis(" + settings.getStreamArn() + ")";
    }
}
