package com.ssmas.yield.connectors.kinesis;

import java.util.concurrent.BlockingQueue;

/**
 * Simulated time for the split reader: waiting for a call that is not there moves the clock on by
 * the wait instead of sleeping. Used with calls run in the fetcher thread ({@code Runnable::run}),
 * where every call has finished before the reader waits.
 */
final class SimulatedFetchClock implements FetchClock {

    private long now = 1_714_557_600_000L; // 2024-05-01T10:00:00Z

    @Override
    public synchronized long nowMillis() {
        return now;
    }

    @Override
    public synchronized <T> T poll(BlockingQueue<T> queue, long millis) {
        T head = queue.poll();
        if (head == null) {
            now += millis;
        }
        return head;
    }
}
