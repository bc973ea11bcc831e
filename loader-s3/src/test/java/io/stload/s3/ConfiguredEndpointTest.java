package io.stload.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.net.URI;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The endpoint the AWS SDKs and CLI take from the system properties and the environment, in their order. */
class ConfiguredEndpointTest {
    private static URI endpoint(Map<String, String> properties, Map<String, String> environment) {
        return S3Storage.configuredEndpoint(properties::get, environment::get);
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
