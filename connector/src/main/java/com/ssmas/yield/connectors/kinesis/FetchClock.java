package com.ssmas.yield.connectors.kinesis;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Time as the split reader sees it, and its only way of waiting: for the next finished Kinesis
 * call (or a wake-up) on a queue, at most until the next shard is due. Tests replace it with a
 * simulated clock, so the pacing of GetRecords calls is checked over minutes of simulated time
 * without sleeping.
 */
interface FetchClock {

    long nowMillis();

    /** The head of {@code queue}, waiting at most {@code millis} for one; null if none came. */
    <T> T poll(BlockingQueue<T> queue, long millis) throws InterruptedException;

    /** Wall-clock time and real waiting. */
    FetchClock SYSTEM =
            new FetchClock() {
                @Override
                public long nowMillis() {
                    return System.currentTimeMillis();
                }

                @Override
                public <T> T poll(BlockingQueue<T> queue, long millis)
                        throws InterruptedException {
                    return queue.poll(millis, TimeUnit.MILLISECONDS);
                }
            };
}
