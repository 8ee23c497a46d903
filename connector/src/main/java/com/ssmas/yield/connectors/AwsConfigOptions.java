package com.ssmas.yield.connectors;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * AWS client options shared by the Kinesis source and the DynamoDB sink. Key names follow the
 * official Flink AWS connectors ({@code aws.region}, {@code aws.endpoint}, {@code aws.credentials.*},
 * {@code aws.trust.all.certificates}) so that a swap to the official jars needs no DDL change.
 */
public final class AwsConfigOptions {

    private AwsConfigOptions() {}

    /** Credential provider types understood by {@link AwsClientFactory}. */
    public enum CredentialsProviderType {
        /** The SDK default chain: env vars, system properties, profile, container / instance role. */
        AUTO,
        /** Static key pair from {@code aws.credentials.basic.*}. */
        BASIC,
        /** {@code AWS_ACCESS_KEY_ID} / {@code AWS_SECRET_ACCESS_KEY} (/ {@code AWS_SESSION_TOKEN}). */
        ENV_VAR,
        /** {@code aws.accessKeyId} / {@code aws.secretAccessKey} JVM system properties. */
        SYS_PROP,
        /** A named profile of the shared credentials file. */
        PROFILE
    }

    public static final ConfigOption<String> AWS_REGION =
            ConfigOptions.key("aws.region")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("AWS region of the service, e.g. eu-west-1.");

    public static final ConfigOption<String> AWS_ENDPOINT =
            ConfigOptions.key("aws.endpoint")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Endpoint override (scheme://host:port), for local stand-ins such as "
                                    + "kinesis-local or moto_server. Unset on AWS.");

    public static final ConfigOption<Boolean> TRUST_ALL_CERTIFICATES =
            ConfigOptions.key("aws.trust.all.certificates")
                    .booleanType()
                    .defaultValue(false)
                    .withDescription(
                            "Accept any TLS certificate (self-signed certificates of local "
                                    + "emulators). Never enable against AWS.");

    public static final ConfigOption<CredentialsProviderType> CREDENTIALS_PROVIDER =
            ConfigOptions.key("aws.credentials.provider")
                    .enumType(CredentialsProviderType.class)
                    .defaultValue(CredentialsProviderType.AUTO)
                    .withDescription("How the AWS credentials are obtained.");

    public static final ConfigOption<String> ACCESS_KEY_ID =
            ConfigOptions.key("aws.credentials.basic.accesskeyid")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("Access key id for aws.credentials.provider = BASIC.");

    public static final ConfigOption<String> SECRET_KEY =
            ConfigOptions.key("aws.credentials.basic.secretkey")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("Secret key for aws.credentials.provider = BASIC.");

    public static final ConfigOption<String> PROFILE_NAME =
            ConfigOptions.key("aws.credentials.profile.name")
                    .stringType()
                    .noDefaultValue()
                    .withDescription("Profile name for aws.credentials.provider = PROFILE.");

    /** Options every AWS connector of this module accepts besides {@code aws.region}. */
    public static Set<ConfigOption<?>> optionalClientOptions() {
        return new LinkedHashSet<>(
                Arrays.asList(
                        AWS_ENDPOINT,
                        TRUST_ALL_CERTIFICATES,
                        CREDENTIALS_PROVIDER,
                        ACCESS_KEY_ID,
                        SECRET_KEY,
                        PROFILE_NAME));
    }
}
