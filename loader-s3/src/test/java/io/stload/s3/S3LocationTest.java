package io.stload.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class S3LocationTest {
    @Test
    void aFolderWithOrWithoutItsSlash() {
        for (String url : new String[] {"s3://models/llama/8b", "s3://models/llama/8b/"}) {
            S3Location l = S3Location.parse(url);
            assertEquals(new S3Location("models", "llama/8b/"), l);
            assertFalse(l.isObject());
            assertEquals("llama/8b/", l.folder());
            assertNull(l.objectName());
        }
    }

    @Test
    void aWholeBucket() {
        S3Location l = S3Location.parse("s3://models");
        assertEquals("", l.key());
        assertEquals("", l.folder());
        assertEquals("s3://models/", l.toString());
    }

    @Test
    void oneObject() {
        S3Location l = S3Location.parse("s3://models/llama/model.safetensors");
        assertTrue(l.isObject());
        assertEquals("llama/", l.folder());
        assertEquals("model.safetensors", l.objectName());
    }

    @ParameterizedTest
    @ValueSource(strings = {"models/llama", "s3://", "s3://UPPER/x", "s3://a/x", "s3://models//x", "s3://models/x//y"})
    void anythingElseIsAUsageError(String url) {
        StloadException e = assertThrows(StloadException.class, () -> S3Location.parse(url));
        assertEquals(ErrorKind.Usage, e.kind());
        assertTrue(e.getMessage().contains("is not an S3 location"), e.getMessage());
    }

    @Test
    void settingsRefuseAnEndpointThatIsNotHttp() {
        StloadException e = assertThrows(StloadException.class,
                () -> S3Settings.DEFAULTS.withEndpoint(java.net.URI.create("ftp://host/")));
        assertEquals(ErrorKind.Usage, e.kind());
    }
}
