package io.stload.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** What a user who set up a source of credentials is told when it gives none: why, as the SDK's chain says. */
class CredentialSourcesTest {
    /** The SDK's message when no provider of its default chain found credentials (2.57, abridged where it repeats). */
    private static final String CHAIN = "Unable to load credentials from any of the providers in the chain "
            + "AwsCredentialsProviderChain(credentialsProviders=[SystemPropertyCredentialsProvider(), "
            + "WebIdentityTokenFileCredentialsProvider(), ProfileCredentialsProvider(profileName=ml)]) : ["
            + "SystemPropertyCredentialsProvider(): Unable to load credentials from system settings. Access key must be "
            + "specified either via environment variable (AWS_ACCESS_KEY_ID) or system property (aws.accessKeyId)., "
            + "WebIdentityTokenFileCredentialsProvider(): Unable to execute HTTP request: Connect to "
            + "http://127.0.0.1:9 failed: Connection refused (SDK Attempt Count: 4), "
            + "ProfileCredentialsProvider(profileName=ml): Profile file contained no credentials for profile 'ml', "
            + "InstanceProfileCredentialsProvider(): Failed to load credentials from IMDS.]";

    @Test
    void theReasonOfEachSourceTheEnvironmentSetsUpIsSaid() {
        assertEquals("", S3Failure.configuredSourceFailures(CHAIN, Map.<String, String>of()::get));
        assertEquals("; WebIdentityTokenFileCredentialsProvider: Unable to execute HTTP request: Connect to "
                + "http://127.0.0.1:9 failed: Connection refused (SDK Attempt Count: 4)",
                S3Failure.configuredSourceFailures(CHAIN, Map.of("AWS_ROLE_ARN", "arn:aws:iam::1:role/r")::get));
        assertEquals("; ProfileCredentialsProvider: Profile file contained no credentials for profile 'ml'",
                S3Failure.configuredSourceFailures(CHAIN, Map.of("AWS_PROFILE", "ml")::get));
        assertEquals("", S3Failure.configuredSourceFailures("Unable to load credentials", Map.of("AWS_PROFILE",
                "ml")::get));
    }
}
