package com.ssmas.yield.connectors.kinesis;

import software.amazon.awssdk.services.kinesis.model.GetRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.Shard;

import java.util.List;

/**
 * The Kinesis calls of the source, for one stream: the enumerator lists shards, the split reader
 * gets shard iterators and records. Both talk to Kinesis only through this interface, so that
 * their logic (reshard order, iterator expiry, shard end, throttling) can be tested against an
 * in-memory stream. Errors are the AWS SDK's exceptions ({@code ExpiredIteratorException},
 * {@code ProvisionedThroughputExceededException}, ...), exactly as the SDK client throws them.
 */
public interface KinesisShardProxy extends AutoCloseable {

    /** Every shard of the stream, open and closed (ListShards, all pages). */
    List<Shard> listShards();

    /** A shard iterator at {@code position} (GetShardIterator). */
    String getShardIterator(String shardId, StartingPosition position);

    /**
     * Up to {@code maxRecords} records from {@code shardIterator} (GetRecords). The response's
     * next iterator is null once the shard is closed and read to its end.
     */
    GetRecordsResponse getRecords(String shardIterator, int maxRecords);

    @Override
    void close();
}
