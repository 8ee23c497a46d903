package com.ssmas.yield.connectors.validation;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;

import javax.annotation.Nullable;

import java.time.LocalDateTime;

/**
 * {@code AUCTION_ROW_TIME(payload)}: the source table's rowtime (the column its watermark is
 * computed from). A valid event's time, as {@link AuctionEventTime}; a rejected record's (also
 * FUTURE_EVENT_TIME) is the newest event time this instance has accepted so far, the epoch
 * before the first.
 *
 * <p>Why not NULL or a constant for rejected records: the source generates a watermark per
 * shard, and a shard only counts as idle when it has no records at all. A shard carrying only
 * rejected records would keep its watermark at the start forever and, the source's watermark
 * being the minimum over its shards, no window would ever close. The newest accepted time moves
 * that shard's watermark exactly as far as the valid records of the same reader already moved
 * theirs, never further: a rejected record can neither hold the watermark back nor push it ahead
 * (a future-dated one in particular).
 *
 * <p>This relies on the source reader sharing one instance between the watermark generators of
 * its shards, which Flink's generated watermark generator supplier does (it hands every shard's
 * generator the same function objects). A reader whose shards all carry only rejected records
 * still holds the watermark back (it has accepted nothing to follow).
 */
public class AuctionRowTime extends AuctionEventTime {

    private static final long serialVersionUID = 1L;

    private static final LocalDateTime EPOCH = LocalDateTime.of(1970, 1, 1, 0, 0);

    /** Kept across open() calls: each shard's watermark generator opens the shared instance. */
    private transient LocalDateTime newestAccepted;

    public AuctionRowTime() {
        super();
    }

    public AuctionRowTime(long maxAheadMillis) {
        super(maxAheadMillis);
    }

    @Override
    public @DataTypeHint("TIMESTAMP(3)") LocalDateTime eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) @Nullable StringData payload) {
        LocalDateTime accepted = super.eval(payload);
        if (accepted == null) {
            return newestAccepted == null ? EPOCH : newestAccepted;
        }
        if (newestAccepted == null || accepted.isAfter(newestAccepted)) {
            newestAccepted = accepted;
        }
        return accepted;
    }
}
