package com.ssmas.yield.connectors.kinesis;

import org.apache.flink.api.connector.source.SourceEvent;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/** Reader -> enumerator: these shards were read to their end (children may now be assigned). */
public final class SplitsFinishedEvent implements SourceEvent {

    private static final long serialVersionUID = 1L;

    private final List<String> finishedShardIds;

    public SplitsFinishedEvent(Collection<String> finishedShardIds) {
        this.finishedShardIds = new ArrayList<>(finishedShardIds);
    }

    public List<String> getFinishedShardIds() {
        return finishedShardIds;
    }

    @Override
    public String toString() {
        return "SplitsFinishedEvent" + finishedShardIds;
    }
}
