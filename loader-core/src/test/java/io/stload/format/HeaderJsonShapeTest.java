package io.stload.format;

import static io.stload.format.RawFile.assertAccepted;
import static io.stload.format.RawFile.assertRejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The header's JSON shape, as serde derives it for the reference: an object of tensor entries with exactly
 * typed fields plus an optional string-to-string {@code __metadata__}; strict JSON, whitespace allowed around.
 */
class HeaderJsonShapeTest {
    /** A valid four-byte entry, for headers whose only fault lies elsewhere. */
    private static final String X = "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
            "[]", "null", "\"x\"", "1", "true", "",
            "{", "{\"x\":", "{\"x\":{\"dtype\":\"F32\"", // truncated
            "{}x", "{}{}", "{} []", "{}\u0000\u0000", "\u0000{}", "\f{}", "{}\u00a0",
            "/*c*/{}", "{\"a\":1,}", "{'x':{}}", "{" + X + ",}",
            "{\"x\":\"F32\"}", "{\"x\":[]}", "{\"x\":null}", "{\"x\":1}",
            "{\"x\":{\"shape\":[1],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}",
            "{\"x\":{\"dtype\":1,\"shape\":[1],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":null,\"shape\":[1],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F8_E4M3FN\",\"shape\":[1],\"data_offsets\":[0,1]}}",
            "{\"x\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}",
            "{\"x\":{\"dtype\":\"F32 \",\"shape\":[1],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"shape\":[1],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[+1],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"0\":0,\"1\":4}}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-8,4]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}}",
            "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4e0]}}",
            "{\"__metadata__\":1}", "{\"__metadata__\":\"a\"}", "{\"__metadata__\":[]}",
            "{\"__metadata__\":{\"a\":1}}", "{\"__metadata__\":{\"a\":null}}", "{\"__metadata__\":{\"a\":{}}}",
            "{\"__metadata__\":{\"a\":[\"b\"]}}", "{\"__metadata__\":{\"a\":true}}",
            "{\"__metadata__\":{},\"__metadata__\":{}}", "{\"__metadata__\":null,\"__metadata__\":null}",
    })
    void malformedOrWronglyTypedHeadersAreRejected(String header) {
        assertRejected(ErrorKind.InvalidHeaderDeserialization, RawFile.of(header, 4), dir);
    }

    @Test
    void byteOrderMarkIsRejected() {
        byte[] bom = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
        assertRejected(ErrorKind.InvalidHeaderDeserialization,
                RawFile.of(RawFile.concat(bom, "{}".getBytes(StandardCharsets.US_ASCII)), new byte[0]), dir);
    }

    @Test
    void deepNestingInAnExtraFieldIsRejectedNotOverflowingTheStack() {
        String deep = "[".repeat(100_000) + "]".repeat(100_000);
        String header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"e\":" + deep + "}}";
        assertRejected(ErrorKind.InvalidHeaderDeserialization, RawFile.of(header, 4), dir);
    }

    /** serde_json reads {@code -0} as the float -0.0, which is not an unsigned integer. */
    @Test
    void negativeZeroIsNotAnUnsignedInteger() {
        assertRejected(ErrorKind.InvalidHeaderDeserialization,
                RawFile.of("{\"x\":{\"dtype\":\"F32\",\"shape\":[-0],\"data_offsets\":[0,0]}}", 0), dir);
        assertRejected(ErrorKind.InvalidHeaderDeserialization,
                RawFile.of("{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-0,0]}}", 0), dir);
    }

    /** serde_json refuses a string whose escapes leave half a surrogate pair: such a string is not Unicode text. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"\\ud800", "\\udfff", "a\\ud83d", "\\ude42\\ud83d", "\\ud83d\\u0041"})
    void loneSurrogateEscapesAreRejected(String escaped) {
        String tensor = "\"" + escaped + "\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}";
        assertRejected(ErrorKind.InvalidHeaderDeserialization, RawFile.of("{" + tensor + "}", 0), dir);
        assertRejected(ErrorKind.InvalidHeaderDeserialization,
                RawFile.of("{\"__metadata__\":{\"" + escaped + "\":\"v\"}}", 0), dir);
        assertRejected(ErrorKind.InvalidHeaderDeserialization,
                RawFile.of("{\"__metadata__\":{\"k\":\"" + escaped + "\"}}", 0), dir);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {" ", "\t", "\r", "\n", " \r\n\t  "})
    void whitespaceAroundTheObjectIsAccepted(String ws) {
        Header h = assertAccepted(RawFile.of(ws + "{" + X + "}" + ws, 4), dir);
        assertEquals(1, h.tensors().size());
    }

    @Test
    void emptyObjectIsAFileWithoutTensors() {
        Header h = assertAccepted(RawFile.of("{}", 0), dir);
        assertTrue(h.tensors().isEmpty());
        assertEquals(Map.of(), h.metadata());
        assertFalse(h.hasMetadata());
        assertEquals(10, h.dataStart());
        assertEquals(0, h.dataBytes());
    }

    @Test
    void unknownFieldsInATensorEntryAreIgnoredWhateverTheyHold() {
        String header = "{\"x\":{\"extra\":{\"a\":[1,{\"b\":null}],\"dtype\":7},\"dtype\":\"F32\",\"shape\":[1],"
                + "\"data_offsets\":[0,4],\"more\":-1.5e300,\"extra\":\"twice\"}}";
        Header h = assertAccepted(RawFile.of(header, 4), dir);
        assertEquals(new TensorInfo("x", DType.F32, new long[] {1}, 0, 4), h.tensor("x"));
    }

    /** serde_json still parses an unknown field's value: its strings must be Unicode, its numbers within an f64. */
    @Test
    void anUnknownFieldHoldingWhatTheReferenceCannotParseIsRejected() {
        for (String value : new String[] {"\"\\ud800\"", "{\"\\udc00\":1}", "[\"a\\ude42\"]", "1e400", "-1e999",
                "1e309", "1" + "0".repeat(400), "-1" + "0".repeat(309), "[" + "9".repeat(1_000_000) + "]"}) {
            String header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"e\":" + value + "}}";
            assertRejected(ErrorKind.InvalidHeaderDeserialization, RawFile.of(header, 4), dir);
        }
    }

    @Test
    void anUnknownFieldMayHoldLongNumbersWithinAnF64() {
        for (String value : new String[] {"0." + "1".repeat(5000), "1" + "0".repeat(308), "-1" + "0".repeat(308),
                "1e-400", "18446744073709551616", "[" + "7".repeat(2000) + "e-1990]"}) {
            String header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"e\":" + value + "}}";
            assertEquals(4, assertAccepted(RawFile.of(header, 4), dir).tensor("x").byteSize(), value);
        }
    }

    @Test
    void aDimensionOfAMillionDigitsIsOutOfRangeAndQuotedShort() {
        String header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[" + "9".repeat(1_000_000) + "],\"data_offsets\":[0,4]}}";
        String message = assertRejected(ErrorKind.InvalidHeaderDeserialization, RawFile.of(header, 4), dir).getMessage();
        assertTrue(message.endsWith("... (1000000 characters) in `shape` of tensor `x` is outside 0..2^64-1"), message);
    }

    /** The reference reads {@code -0} as a float, no dimension: refused, and named as written. */
    @Test
    void aNegativeZeroDimensionIsRefusedAsWritten() {
        String header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[-0],\"data_offsets\":[0,0]}}";
        String message = assertRejected(ErrorKind.InvalidHeaderDeserialization, RawFile.of(header, 0), dir).getMessage();
        assertTrue(message.endsWith("negative value -0 in `shape` of tensor `x`"), message);
    }

    /** serde_json's recursion limit: the header object, the entry and 125 arrays pass; one more does not. */
    @Test
    void nestingStopsWhereTheReferencesDoes() {
        String entry = "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"e\":";
        assertAccepted(RawFile.of("{" + entry + "[".repeat(125) + "]".repeat(125) + "}}", 4), dir);
        assertRejected(ErrorKind.InvalidHeaderDeserialization,
                RawFile.of("{" + entry + "[".repeat(126) + "]".repeat(126) + "}}", 4), dir);
    }

    @Test
    void fieldsOfAnEntryMayComeInAnyOrder() {
        String header = "{\"x\":{\"data_offsets\":[0,4],\"shape\":[1],\"dtype\":\"F32\"}}";
        assertEquals(4, assertAccepted(RawFile.of(header, 4), dir).tensor("x").byteSize());
    }

    @Test
    void metadataIsAStringMapWhereverItStands() {
        String header = "{" + X + ",\"__metadata__\":{\"format\":\"pt\",\"\":\"\",\"é\":\"\\u00e9\\n\"}}";
        Header h = assertAccepted(RawFile.of(header, 4), dir);
        assertEquals(Map.of("format", "pt", "", "", "é", "é\n"), h.metadata());
        assertTrue(h.find("__metadata__").isEmpty());
    }

    @Test
    void nullMetadataMeansNone() {
        Header h = assertAccepted(RawFile.of("{\"__metadata__\":null," + X + "}", 4), dir);
        assertEquals(Map.of(), h.metadata());
        assertFalse(h.hasMetadata());
        assertEquals(1, h.tensors().size());
    }

    @Test
    void repeatedMetadataKeyKeepsTheLastValueAsTheReferenceDoes() {
        Header h = assertAccepted(RawFile.of("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0), dir);
        assertEquals(Map.of("a", "2"), h.metadata());
    }

    @Test
    void namesAreUnescapedJsonStrings() {
        String header = "{\"a\\\"b\\\\c\\u00e9\\ud83d\\ude42\\n\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
        Header h = assertAccepted(RawFile.of(header, 1), dir);
        assertEquals(1, h.tensor("a\"b\\cé🙂\n").byteSize());
    }

    /** A hostile name cannot forge a line in an embedder's log: the message escapes it, the detail keeps it. */
    @Test
    void anErrorAboutANameWithControlCharactersIsOneLine() {
        String header = "{\"a\\n\\u001b[31mb\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}";
        StloadException e = assertRejected(ErrorKind.TensorInvalidInfo, RawFile.of(header, 4), dir);
        assertTrue(e.getMessage().contains("tensor `a\\n\\x1b[31mb`") && e.getMessage().lines().count() == 1,
                e.getMessage());
        assertTrue(e.detail().contains("tensor `a\n\u001b[31mb`"), e.detail());
    }

    @Test
    void sameNameTwiceIsADuplicate() {
        assertRejected(ErrorKind.DuplicateTensorName, RawFile.of("{" + X + "," + X + "}", 4), dir);
    }

    @Test
    void sameNameAfterUnescapingIsADuplicate() {
        String escaped = X.replace("\"x\"", "\"\\u0078\"");
        String e = RawFile.assertRejected(ErrorKind.DuplicateTensorName, RawFile.of("{" + X + "," + escaped + "}", 4), dir)
                .getMessage();
        assertTrue(e.contains("`x`"), e);
    }
}
