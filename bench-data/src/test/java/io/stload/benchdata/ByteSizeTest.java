package io.stload.benchdata;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ByteSizeTest {
    @Test
    void plainNumbersAreBytes() {
        assertEquals(123, ByteSize.parse("123"));
        assertEquals(7, ByteSize.parse("7B"));
    }

    @Test
    void binaryUnitsArePowersOf1024() {
        assertEquals(64L << 10, ByteSize.parse("64KiB"));
        assertEquals(256L << 20, ByteSize.parse("256MiB"));
        assertEquals(4L << 30, ByteSize.parse("4GiB"));
        assertEquals(2L << 40, ByteSize.parse("2TiB"));
    }

    @Test
    void decimalUnitsArePowersOf1000() {
        assertEquals(1_500_000_000L, ByteSize.parse("1.5GB"));
        assertEquals(3_000_000L, ByteSize.parse("3MB"));
        assertEquals(2_000L, ByteSize.parse("2kb"));
    }

    @Test
    void acceptsSpacesAndAnyCase() {
        assertEquals(256L << 20, ByteSize.parse(" 256 mib "));
    }

    @Test
    void fractionsRoundToTheNearestByte() {
        assertEquals(1536, ByteSize.parse("1.5KiB"));
        assertEquals(307, ByteSize.parse("0.3KiB"));
    }

    @Test
    void rejectsWhatIsNotASize() {
        assertThrows(IllegalArgumentException.class, () -> ByteSize.parse(""));
        assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("-1MiB"));
        assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("12 parsecs"));
        assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("MiB"));
        assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("99999999999TiB"));
    }
}
