package io.stload.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.profiles.ProfileFile;

/** The endpoint the AWS SDKs and CLI take from the system properties and the environment, in their order. */
class ConfiguredEndpointTest {
    private static URI endpoint(Map<String, String> properties, Map<String, String> environment) {
        return endpoint(properties, environment, "");
    }

    private static URI endpoint(Map<String, String> properties, Map<String, String> environment, String config) {
        ProfileFile profiles = ProfileFile.builder().type(ProfileFile.Type.CONFIGURATION)
                .content(new ByteArrayInputStream(config.getBytes(StandardCharsets.UTF_8))).build();
        return S3Storage.configuredEndpoint(properties::get, environment::get, profiles);
    }

    @Test
    void thenTheProfilesServicesSectionThenItsOwnEndpoint() {
        String config = """
                [default]
                endpoint_url = http://default:1

                [profile ml]
                endpoint_url = http://ml:2
                services = stores

                [services stores]
                s3 =
                  endpoint_url = http://ml-s3:3

                [profile plain]
                endpoint_url = http://plain:4
                ignore_configured_endpoint_urls = false

                [profile off]
                endpoint_url = http://off:5
                ignore_configured_endpoint_urls = true
                """;
        assertEquals(URI.create("http://default:1"), endpoint(Map.of(), Map.of(), config));
        assertEquals(URI.create("http://ml-s3:3"), endpoint(Map.of(), Map.of("AWS_PROFILE", "ml"), config));
        assertEquals(URI.create("http://env:9"), endpoint(Map.of(), Map.of("AWS_PROFILE", "ml",
                "AWS_ENDPOINT_URL", "http://env:9"), config));
        assertEquals(URI.create("http://plain:4"), endpoint(Map.of("aws.profile", "plain"), Map.of("AWS_PROFILE", "ml"),
                config));
        assertNull(endpoint(Map.of(), Map.of("AWS_PROFILE", "off", "AWS_ENDPOINT_URL", "http://env:9"), config));
    }

    @Test
    void s3sOwnBeforeEveryServicesAndAPropertyBeforeTheEnvironment() {
        assertNull(endpoint(Map.of(), Map.of()));
        assertEquals(URI.create("http://all:1"), endpoint(Map.of(), Map.of("AWS_ENDPOINT_URL", "http://all:1")));
        assertEquals(URI.create("http://s3:2"), endpoint(Map.of(), Map.of("AWS_ENDPOINT_URL", "http://all:1",
                "AWS_ENDPOINT_URL_S3", "http://s3:2")));
        assertEquals(URI.create("http://prop:3"), endpoint(Map.of("aws.endpointUrlS3", "http://prop:3"),
                Map.of("AWS_ENDPOINT_URL_S3", "http://s3:2")));
        assertEquals(URI.create("http://s3:2"), endpoint(Map.of("aws.endpointUrl", "http://prop:3"),
                Map.of("AWS_ENDPOINT_URL_S3", "http://s3:2")));
        assertNull(endpoint(Map.of(), Map.of("AWS_ENDPOINT_URL_S3", "http://s3:2",
                "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")));
        assertNull(endpoint(Map.of(), Map.of("AWS_ENDPOINT_URL_S3", " ")));
    }

    @Test
    void aValueThatIsNoUrlIsAUsageErrorNamingTheSetting() {
        StloadException e = assertThrows(StloadException.class,
                () -> endpoint(Map.of(), Map.of("AWS_ENDPOINT_URL", "minio:9000")));
        assertEquals(ErrorKind.Usage, e.kind());
        assertEquals("AWS_ENDPOINT_URL `minio:9000` is not an http(s)://host[:port] URL (the S3 endpoint where no "
                + "--s3-endpoint is given)", e.detail());
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class,
                () -> endpoint(Map.of(), Map.of("AWS_ENDPOINT_URL_S3", "http://a b"))).kind());
    }
}
