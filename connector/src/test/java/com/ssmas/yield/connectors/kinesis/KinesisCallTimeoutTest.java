package com.ssmas.yield.connectors.kinesis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.ssmas.yield.connectors.AwsClientFactory;
import com.ssmas.yield.connectors.AwsConfigOptions.CredentialsProviderType;

import org.junit.jupiter.api.Test;

import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.kinesis.KinesisClient;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The Kinesis client of the source gives up on a call that gets no answer after the configured
 * timeouts, instead of the 60 s socket timeout: against a loopback socket that accepts
 * connections and never answers (no network, no emulator).
 */
class KinesisCallTimeoutTest {

    @Test
    void aCallToAnEndpointThatNeverAnswersFailsWithinTheCallTimeout() throws Exception {
        List<Socket> held = new CopyOnWriteArrayList<>();
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread acceptor =
                    new Thread(
                            () -> {
                                try {
                                    while (true) {
                                        held.add(silent.accept()); // read nothing, answer nothing
                                    }
                                } catch (Exception closed) {
                                    // the test is over
                                }
                            });
            acceptor.setDaemon(true);
            acceptor.start();
            AwsClientFactory aws =
                    new AwsClientFactory(
                            "eu-west-1",
                            "http://127.0.0.1:" + silent.getLocalPort(),
                            false,
                            CredentialsProviderType.BASIC,
                            "test",
                            "test",
                            null);
            try (KinesisClient client =
                    aws.createKinesisClient(2, Duration.ofMillis(1_500), Duration.ofMillis(300))) {
                assertEquals(Optional.of(Duration.ofMillis(1_500)),
                        client.serviceClientConfiguration().overrideConfiguration().apiCallTimeout());
                assertEquals(Optional.of(Duration.ofMillis(300)),
                        client.serviceClientConfiguration().overrideConfiguration().apiCallAttemptTimeout());
                KinesisClientShardProxy proxy =
                        new KinesisClientShardProxy(KinesisTestSettings.STREAM_ARN, client);

                long started = System.nanoTime();
                SdkClientException failure =
                        assertThrows(SdkClientException.class, () -> proxy.getRecords("iterator", 10));
                long tookMs = (System.nanoTime() - started) / 1_000_000L;

                assertTrue(failure instanceof ApiCallTimeoutException
                                || failure instanceof ApiCallAttemptTimeoutException,
                        failure.toString());
                assertTrue(tookMs < 5_000L, "gave up after " + tookMs + " ms");
            }
        } finally {
            for (Socket s : held) {
                s.close();
            }
        }
    }
}
