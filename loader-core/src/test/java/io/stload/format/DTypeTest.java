package io.stload.format;

import static io.stload.format.RawFile.assertAccepted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The format's 22 element types, spelled exactly as in headers, with their widths in bits. */
class DTypeTest {
    @TempDir
    Path dir;

    @Test
    void theFormatHasExactlyTheseTypes() {
        assertEquals(List.of("BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
                "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64"),
                Arrays.stream(DType.values()).filter(DType::isKnown).map(DType::name).toList());
        assertEquals(DType.UNKNOWN, DType.values()[DType.values().length - 1], "and UNKNOWN, which no header spells");
    }

    @Test
    void widths() {
        assertEquals(4, DType.F4.bits());
        assertEquals(6, DType.F6_E2M3.bits());
        assertEquals(8, DType.BOOL.bits());
        assertEquals(8, DType.F8_E8M0.bits());
        assertEquals(16, DType.BF16.bits());
        assertEquals(64, DType.C64.bits());
        assertEquals(64, DType.U64.bits());
    }

    @Test
    void namesAreCaseSensitiveAndExact() {
        assertNull(DType.fromHeaderName("f32"));
        assertNull(DType.fromHeaderName("F8_E4M3FN"));
        assertNull(DType.fromHeaderName(" F32"));
        assertNull(DType.fromHeaderName(""));
    }

    /** Eight elements of each type in a file of exactly their size: bits bytes. */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = "UNKNOWN", mode = EnumSource.Mode.EXCLUDE)
    void everyTypeParses(DType dtype) {
        String header = "{\"t\":{\"dtype\":\"" + dtype.name() + "\",\"shape\":[2,4],\"data_offsets\":[0," + dtype.bits() + "]}}";
        Header h = assertAccepted(RawFile.of(header, dtype.bits()), dir);
        assertEquals(dtype, h.tensor("t").dtype());
        assertEquals(dtype, DType.fromHeaderName(dtype.name()));
        assertEquals(dtype.bits() < 8, dtype.isSubByte());
        if (dtype.isSubByte()) {
            assertEquals(ErrorKind.Unsupported, assertThrows(StloadException.class, dtype::byteSize).kind());
        } else {
            assertEquals(dtype.bits(), dtype.byteSize() * 8);
        }
    }

    @Test
    void unknownHasNoWidth() {
        assertEquals(0, DType.UNKNOWN.bits());
        assertFalse(DType.UNKNOWN.isKnown());
        assertFalse(DType.UNKNOWN.isSubByte());
        assertEquals(ErrorKind.Unsupported, assertThrows(StloadException.class, DType.UNKNOWN::byteSize).kind());
        assertNull(DType.fromHeaderName("UNKNOWN"), "no header spells it");
    }
}
