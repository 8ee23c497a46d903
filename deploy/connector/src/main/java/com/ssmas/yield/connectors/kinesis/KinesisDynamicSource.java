package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.connector.source.ScanTableSource;
import org.apache.flink.table.connector.source.SourceProvider;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.types.DataType;

/** Table-API face of {@link KinesisSource}: payload decoded by the table's format. */
public class KinesisDynamicSource implements ScanTableSource {

    private final KinesisSourceSettings settings;
    private final DecodingFormat<DeserializationSchema<RowData>> decodingFormat;
    private final DataType physicalDataType;

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
    public ScanRuntimeProvider getScanRuntimeProvider(ScanContext context) {
        DeserializationSchema<RowData> deserializer =
                decodingFormat.createRuntimeDecoder(context, physicalDataType);
        return SourceProvider.of(new KinesisSource<>(settings, deserializer));
    }

    @Override
    public DynamicTableSource copy() {
        return new KinesisDynamicSource(settings, decodingFormat, physicalDataType);
    }

    @Override
    public String asSummaryString() {
        return "Kinesis(" + settings.getStreamArn() + ")";
    }
}
