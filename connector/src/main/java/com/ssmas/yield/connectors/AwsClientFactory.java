package com.ssmas.yield.connectors;

import com.ssmas.yield.connectors.AwsConfigOptions.CredentialsProviderType;

import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider;
import software.amazon.awssdk.auth.credentials.ProfileCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.auth.credentials.SystemPropertyCredentialsProvider;
import software.amazon.awssdk.awscore.client.builder.AwsClientBuilder;
import software.amazon.awssdk.core.client.config.ClientOverrideConfiguration;
import software.amazon.awssdk.core.retry.RetryMode;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.SdkHttpConfigurationOption;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.http.async.SdkAsyncHttpClient;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.dynamodb.DynamoDbAsyncClient;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.utils.AttributeMap;

import java.io.Serializable;
import java.net.URI;
import java.time.Duration;
import java.util.Objects;

/**
 * Serializable AWS client settings plus the builders of the SDK clients used by the connectors.
 * Instances travel inside the Flink job graph; SDK clients are built on the task managers.
 */
public final class AwsClientFactory implements Serializable {

    private static final long serialVersionUID = 1L;

    /** Java SDK v2 system property that switches the Kinesis wire protocol from CBOR to JSON. */
    public static final String CBOR_SYSTEM_PROPERTY = "aws.cborEnabled";

    private final String region;
    private final String endpoint;
    private final boolean trustAllCertificates;
    private final CredentialsProviderType credentialsProvider;
    private final String accessKeyId;
    private final String secretKey;
    private final String profileName;

    public AwsClientFactory(
            String region,
            String endpoint,
            boolean trustAllCertificates,
            CredentialsProviderType credentialsProvider,
            String accessKeyId,
            String secretKey,
            String profileName) {
        this.region = Objects.requireNonNull(region, "aws.region");
        this.endpoint = endpoint;
        this.trustAllCertificates = trustAllCertificates;
        this.credentialsProvider = credentialsProvider;
        this.accessKeyId = accessKeyId;
        this.secretKey = secretKey;
        this.profileName = profileName;
    }

    /** Reads and validates the {@code aws.*} options; errors name the offending option. */
    public static AwsClientFactory fromOptions(ReadableConfig options) {
        String region =
                options.getOptional(AwsConfigOptions.AWS_REGION)
                        .orElseThrow(
                                () ->
                                        new ValidationException(
                                                "Missing required option 'aws.region'."));
        String endpoint = options.getOptional(AwsConfigOptions.AWS_ENDPOINT).orElse(null);
        if (endpoint != null) {
            try {
                URI uri = URI.create(endpoint);
                if (uri.getScheme() == null || uri.getHost() == null) {
                    throw new IllegalArgumentException("no scheme or host");
                }
            } catch (IllegalArgumentException e) {
                throw new ValidationException(
                        "Invalid value for option 'aws.endpoint': '"
                                + endpoint
                                + "' (expected scheme://host:port, e.g. https://127.0.0.1:4567).",
                        e);
            }
        }
        CredentialsProviderType type = options.get(AwsConfigOptions.CREDENTIALS_PROVIDER);
        String key = options.getOptional(AwsConfigOptions.ACCESS_KEY_ID).orElse(null);
        String secret = options.getOptional(AwsConfigOptions.SECRET_KEY).orElse(null);
        if (type == CredentialsProviderType.BASIC && (key == null || secret == null)) {
            throw new ValidationException(
                    "Option 'aws.credentials.provider' = 'BASIC' requires both "
                            + "'aws.credentials.basic.accesskeyid' and "
                            + "'aws.credentials.basic.secretkey'.");
        }
        return new AwsClientFactory(
                region,
                endpoint,
                options.get(AwsConfigOptions.TRUST_ALL_CERTIFICATES),
                type,
                key,
                secret,
                options.getOptional(AwsConfigOptions.PROFILE_NAME).orElse(null));
    }

    public String getRegion() {
        return region;
    }

    public String getEndpoint() {
        return endpoint;
    }

    AwsCredentialsProvider credentialsProvider() {
        switch (credentialsProvider) {
            case BASIC:
                return StaticCredentialsProvider.create(
                        AwsBasicCredentials.create(accessKeyId, secretKey));
            case ENV_VAR:
                return EnvironmentVariableCredentialsProvider.create();
            case SYS_PROP:
                return SystemPropertyCredentialsProvider.create();
            case PROFILE:
                return profileName == null
                        ? ProfileCredentialsProvider.create()
                        : ProfileCredentialsProvider.create(profileName);
            case AUTO:
            default:
                return DefaultCredentialsProvider.builder().build();
        }
    }

    /**
     * The provider, checked once when a client is created: missing credentials are a
     * configuration error that no retry fixes, so they fail the task at start with a message
     * naming the option, instead of surfacing later as endless retries of every request.
     */
    AwsCredentialsProvider checkedCredentialsProvider() {
        AwsCredentialsProvider provider = credentialsProvider();
        try {
            provider.resolveCredentials();
        } catch (RuntimeException e) {
            throw new IllegalStateException(
                    "No AWS credentials for 'aws.credentials.provider' = "
                            + credentialsProvider
                            + ": "
                            + e.getMessage(),
                    e);
        }
        return provider;
    }

    /** The DynamoDB sink's call timeout (its writes are retried by the sink itself). */
    private static final Duration DEFAULT_API_CALL_TIMEOUT = Duration.ofSeconds(120);

    /**
     * Standard SDK retries (throttling, 5xx, network) under one bounded call timeout and, when
     * given, a timeout per HTTP attempt (a hung connection is abandoned and retried instead of
     * waiting for the socket timeout).
     */
    private static ClientOverrideConfiguration clientOverrides(
            Duration apiCallTimeout, Duration apiCallAttemptTimeout) {
        ClientOverrideConfiguration.Builder overrides =
                ClientOverrideConfiguration.builder()
                        .retryStrategy(RetryMode.STANDARD)
                        .apiCallTimeout(apiCallTimeout);
        if (apiCallAttemptTimeout != null) {
            overrides.apiCallAttemptTimeout(apiCallAttemptTimeout);
        }
        return overrides.build();
    }

    private AttributeMap httpDefaults() {
        return AttributeMap.builder()
                .put(SdkHttpConfigurationOption.TRUST_ALL_CERTIFICATES, trustAllCertificates)
                .build();
    }

    /**
     * Kinesis speaks CBOR by default in the Java SDK v2. Local emulators are most robust over
     * JSON, so when an endpoint override is configured and neither the system property nor the
     * {@code CBOR_ENABLED} environment variable was set explicitly, CBOR is switched off for this
     * JVM. Against AWS (no endpoint) nothing is changed.
     */
    static void maybeDisableCbor(String endpoint) {
        if (endpoint == null) {
            return;
        }
        if (System.getProperty(CBOR_SYSTEM_PROPERTY) == null
                && System.getenv("CBOR_ENABLED") == null) {
            System.setProperty(CBOR_SYSTEM_PROPERTY, "false");
        }
    }

    /**
     * A synchronous Kinesis client (Apache HTTP client, connection pool of {@code
     * maxConnections}) whose calls give up after {@code apiCallTimeout} (SDK retries included)
     * and whose single HTTP attempts give up after {@code apiCallAttemptTimeout}.
     */
    public KinesisClient createKinesisClient(
            int maxConnections, Duration apiCallTimeout, Duration apiCallAttemptTimeout) {
        maybeDisableCbor(endpoint);
        SdkHttpClient http =
                ApacheHttpClient.builder()
                        .maxConnections(Math.max(2, maxConnections))
                        .connectionTimeout(Duration.ofSeconds(10))
                        .socketTimeout(Duration.ofSeconds(60))
                        .buildWithDefaults(httpDefaults());
        return configured(
                KinesisClient.builder().httpClient(http),
                clientOverrides(apiCallTimeout, apiCallAttemptTimeout));
    }

    /** An asynchronous DynamoDB client (Netty, at most {@code maxConcurrency} open requests). */
    public DynamoDbAsyncClient createDynamoDbClient(int maxConcurrency) {
        SdkAsyncHttpClient http =
                NettyNioAsyncHttpClient.builder()
                        .maxConcurrency(Math.max(2, maxConcurrency))
                        .connectionTimeout(Duration.ofSeconds(10))
                        .readTimeout(Duration.ofSeconds(60))
                        .buildWithDefaults(httpDefaults());
        return configured(
                DynamoDbAsyncClient.builder().httpClient(http),
                clientOverrides(DEFAULT_API_CALL_TIMEOUT, null));
    }

    /** What every client shares: region, checked credentials, retries, endpoint override. */
    private <B extends AwsClientBuilder<B, C>, C> C configured(
            B builder, ClientOverrideConfiguration overrides) {
        builder.region(Region.of(region))
                .credentialsProvider(checkedCredentialsProvider())
                .overrideConfiguration(overrides);
        if (endpoint != null) {
            builder.endpointOverride(URI.create(endpoint));
        }
        return builder.build();
    }
}
