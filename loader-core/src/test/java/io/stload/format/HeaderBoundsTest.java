package io.stload.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Headers the reference accepts but whose decoded form would not fit the stated bound (4x the header plus
 * 4 MiB): hundreds of thousands of tiny tensors or metadata keys, or a million dimensions, are HeaderTooLarge before the heap is spent.
 */
class HeaderBoundsTest {
    private static final Path FILE = Path.of("hostile.safetensors");

    private static StloadException refused(String header) {
        StloadException e = assertThrows(StloadException.class, () -> HeaderParser.parse(RawFile.of(header, 0), FILE));
        assertEquals(ErrorKind.HeaderTooLarge, e.kind(), e.getMessage());
        return e;
    }

    @Test
    void twoHundredThousandEmptyTensorsAreRefused() {
        StringBuilder h = new StringBuilder("{");
        for (int i = 0; i < 200_000; i++) {
            h.append(i == 0 ? "" : ",").append("\"").append(Integer.toString(i, 36))
                    .append("\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}");
        }
        StloadException e = refused(h.append('}').toString());
        assertTrue(e.getMessage().contains("tensor table"), e.getMessage());
    }

    @Test
    void aShapeOfMillionsOfDimensionsIsRefused() {
        String zeros = ",0".repeat(1_000_000).substring(1);
        StloadException e = refused("{\"t\":{\"dtype\":\"F32\",\"shape\":[" + zeros + "],\"data_offsets\":[0,0]}}");
        assertTrue(e.getMessage().contains("shape of tensor `t`"), e.getMessage());
    }

    @Test
    void twoHundredThousandMetadataKeysAreRefused() {
        StringBuilder h = new StringBuilder("{\"__metadata__\":{");
        for (int i = 0; i < 200_000; i++) {
            h.append(i == 0 ? "" : ",").append("\"").append(Integer.toString(i, 36)).append("\":\"\"");
        }
        StloadException e = refused(h.append("}}").toString());
        assertTrue(e.getMessage().contains("__metadata__"), e.getMessage());
    }

    @Test
    void aLargeButRealisticTableFitsTheBound() {
        StringBuilder h = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        long offset = 0;
        for (int layer = 0; layer < 2000; layer++) {
            for (String part : new String[] {"self_attn.q_proj", "self_attn.k_proj", "mlp.down_proj", "input_layernorm"}) {
                h.append(",\"model.layers.").append(layer).append('.').append(part).append(".weight\":{\"dtype\":\"BF16\","
                        + "\"shape\":[2,2],\"data_offsets\":[").append(offset).append(',').append(offset + 8).append("]}");
                offset += 8;
            }
        }
        Header header = HeaderParser.parse(RawFile.of(h.append('}').toString(), (int) offset), FILE);
        assertEquals(8000, header.tensors().size());
    }

    @ParameterizedTest
    @ValueSource(strings = {"x", "é☃\ud83d\ude00"}) // ASCII, and characters of 2, 3 and 4 bytes
    void invalidJsonNamesTheRealBytePosition(String text) {
        String pad = "{\"__metadata__\":{\"k\":\"" + text.repeat(300) + "\"},";
        String header = pad + "\"t\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}, oops}";
        int bad = 8 + header.substring(0, header.indexOf("oops")).getBytes(StandardCharsets.UTF_8).length;
        StloadException e = assertThrows(StloadException.class, () -> HeaderParser.parse(RawFile.of(header, 0), FILE));
        assertEquals(ErrorKind.InvalidHeaderDeserialization, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains("at byte " + bad + " of the file"), bad + ": " + e.getMessage());
    }
}
