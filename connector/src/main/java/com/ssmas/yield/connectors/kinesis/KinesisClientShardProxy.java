package com.ssmas.yield.connectors.kinesis;

import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.GetRecordsRequest;
import software.amazon.awssdk.services.kinesis.model.GetRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.GetShardIteratorRequest;
import software.amazon.awssdk.services.kinesis.model.ListShardsRequest;
import software.amazon.awssdk.services.kinesis.model.ListShardsResponse;
import software.amazon.awssdk.services.kinesis.model.Shard;
import software.amazon.awssdk.services.kinesis.model.ShardIteratorType;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * {@link KinesisShardProxy} on the AWS SDK v2 client. Every request names the stream by its ARN
 * (StreamARN), which is what the official connector sends and what emulators must understand.
 */
public final class KinesisClientShardProxy implements KinesisShardProxy {

    private final String streamArn;
    private final KinesisClient client;

    public KinesisClientShardProxy(String streamArn, KinesisClient client) {
        this.streamArn = Objects.requireNonNull(streamArn);
        this.client = Objects.requireNonNull(client);
    }

    /** No ShardFilter, so that emulators that ignore it behave the same. */
    @Override
    public List<Shard> listShards() {
        List<Shard> all = new ArrayList<>();
        String nextToken = null;
        do {
            ListShardsRequest.Builder request = ListShardsRequest.builder();
            if (nextToken == null) {
                request.streamARN(streamArn);
            } else {
                // with NextToken the stream must not be named again (API rule)
                request.nextToken(nextToken);
            }
            ListShardsResponse response = client.listShards(request.build());
            all.addAll(response.shards());
            nextToken = response.nextToken();
        } while (nextToken != null);
        return all;
    }

    @Override
    public String getShardIterator(String shardId, StartingPosition position) {
        GetShardIteratorRequest.Builder request =
                GetShardIteratorRequest.builder().streamARN(streamArn).shardId(shardId);
        switch (position.getType()) {
            case TRIM_HORIZON:
                request.shardIteratorType(ShardIteratorType.TRIM_HORIZON);
                break;
            case LATEST:
                request.shardIteratorType(ShardIteratorType.LATEST);
                break;
            case AT_TIMESTAMP:
                request.shardIteratorType(ShardIteratorType.AT_TIMESTAMP)
                        .timestamp(Instant.ofEpochMilli(position.getTimestampMillis()));
                break;
            case AFTER_SEQUENCE_NUMBER:
                request.shardIteratorType(ShardIteratorType.AFTER_SEQUENCE_NUMBER)
                        .startingSequenceNumber(position.getSequenceNumber());
                break;
            default:
                throw new IllegalStateException("Unexpected start " + position);
        }
        return client.getShardIterator(request.build()).shardIterator();
    }

    @Override
    public GetRecordsResponse getRecords(String shardIterator, int maxRecords) {
        return client.getRecords(
                GetRecordsRequest.builder()
                        .streamARN(streamArn)
                        .shardIterator(shardIterator)
                        .limit(maxRecords)
                        .build());
    }

    @Override
    public void close() {
        client.close();
    }
}
