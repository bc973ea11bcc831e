package io.stload.format;

import static io.stload.format.RawFile.assertAccepted;
import static io.stload.format.RawFile.assertRejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The tensor table's rules, in the reference's order: sorted by offsets the tensors tile the data area
 * (InvalidOffset), their sizes neither overflow (ValidationOverflow) nor split a byte (MisalignedSlice) and
 * match their offsets (TensorInvalidInfo), and the data area ends at the end of the file
 * (MetadataIncompleteBuffer).
 */
class TensorTableRulesTest {
    private static final String U64_MAX = "18446744073709551615";

    @TempDir
    Path dir;

    private static String entry(String name, String dtype, String shape, String begin, String end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}";
    }

    private static byte[] file(int dataBytes, String... entries) {
        return RawFile.of("{" + String.join(",", entries) + "}", dataBytes);
    }

    @Test
    void tensorsOutOfOrderInTheHeaderAreListedInDataOrder() {
        Header h = assertAccepted(file(12,
                entry("c", "F32", "[1]", "8", "12"), entry("a", "F32", "[1]", "0", "4"), entry("b", "F32", "[1]", "4", "8")), dir);
        assertEquals(List.of("a", "b", "c"), h.tensors().stream().map(TensorInfo::name).toList());
        assertEquals(12, h.dataBytes());
    }

    @Test
    void holeAtTheStartIsAnInvalidOffset() {
        assertRejected(ErrorKind.InvalidOffset, file(8, entry("x", "F32", "[1]", "4", "8")), dir);
    }

    @Test
    void gapBetweenTensorsIsAnInvalidOffset() {
        assertRejected(ErrorKind.InvalidOffset, file(12,
                entry("x", "F32", "[1]", "0", "4"), entry("y", "F32", "[1]", "8", "12")), dir);
    }

    @Test
    void overlapIsAnInvalidOffset() {
        assertRejected(ErrorKind.InvalidOffset, file(12,
                entry("x", "F32", "[2]", "0", "8"), entry("y", "F32", "[2]", "4", "12")), dir);
    }

    @Test
    void twoTensorsOnTheSameBytesAreAnInvalidOffset() {
        assertRejected(ErrorKind.InvalidOffset, file(4,
                entry("x", "F32", "[1]", "0", "4"), entry("y", "F32", "[1]", "0", "4")), dir);
    }

    @Test
    void beginAfterEndIsAnInvalidOffset() {
        assertRejected(ErrorKind.InvalidOffset, file(4, entry("x", "F32", "[1]", "0", "4"), entry("y", "F32", "[0]", "4", "0")), dir);
    }

    @Test
    void u64MaxOffsetsAreAnInvalidOffsetNotAnOverflow() {
        assertRejected(ErrorKind.InvalidOffset, file(0, entry("x", "U8", "[0]", U64_MAX, U64_MAX)), dir);
    }

    @Test
    void zeroSizedTensorsMayShareAnOffsetAnywhere() {
        Header h = assertAccepted(file(8,
                entry("a", "F32", "[0]", "0", "0"), entry("b", "F64", "[2,0]", "0", "0"),
                entry("x", "F32", "[1]", "0", "4"),
                entry("c", "I8", "[0,3,0]", "4", "4"), entry("y", "F32", "[1]", "4", "8"),
                entry("d", "BF16", "[0]", "8", "8"), entry("e", "F4", "[0]", "8", "8")), dir);
        assertEquals(7, h.tensors().size());
        assertEquals(0, h.tensor("d").elementCount());
        assertEquals(8, h.tensor("d").begin());
    }

    @Test
    void scalarsHaveOneElement() {
        Header h = assertAccepted(file(9, entry("s", "F64", "[]", "0", "8"), entry("b", "BOOL", "[]", "8", "9")), dir);
        assertEquals(0, h.tensor("s").rank());
        assertEquals(1, h.tensor("s").elementCount());
    }

    @Test
    void u64MaxDimensionTimesZeroIsAnEmptyTensor() {
        Header h = assertAccepted(file(0, entry("z", "F64", "[" + U64_MAX + ",0]", "0", "0")), dir);
        assertEquals(-1L, h.tensor("z").dim(0)); // the unsigned value 2^64-1, held in a long
        assertEquals("[" + U64_MAX + ", 0]", h.tensor("z").shapeString());
    }

    @Test
    void elementCountOverflowIsReportedEvenWhenALaterDimensionIsZero() {
        // The reference multiplies left to right with checked arithmetic: 2^32 * 2^32 overflows before * 0.
        assertRejected(ErrorKind.ValidationOverflow, file(0, entry("o", "U8", "[4294967296,4294967296,0]", "0", "0")), dir);
        assertRejected(ErrorKind.ValidationOverflow, file(0, entry("o", "U8", "[" + U64_MAX + ",2,0]", "0", "0")), dir);
    }

    @Test
    void bitCountOverflowIsAValidationOverflow() {
        // 2^61 elements fit in 64 bits; 2^61 * 64 bits do not.
        assertRejected(ErrorKind.ValidationOverflow, file(0, entry("o", "F64", "[2305843009213693952]", "0", "0")), dir);
    }

    @Test
    void subByteTensorEndingInsideAByteIsMisaligned() {
        assertRejected(ErrorKind.MisalignedSlice, file(2, entry("f", "F4", "[3]", "0", "2")), dir);
        assertRejected(ErrorKind.MisalignedSlice, file(3, entry("f", "F6_E2M3", "[3]", "0", "3")), dir);
        assertRejected(ErrorKind.MisalignedSlice, file(1, entry("f", "F6_E3M2", "[1]", "0", "1")), dir);
    }

    @Test
    void subByteTensorsOfWholeBytesAreAccepted() {
        Header h = assertAccepted(file(5, entry("a", "F4", "[2,2]", "0", "2"), entry("b", "F6_E3M2", "[4]", "2", "5")), dir);
        assertEquals(3, h.tensor("b").byteSize());
    }

    @Test
    void offsetsDisagreeingWithDtypeTimesShapeAreInvalidInfo() {
        assertRejected(ErrorKind.TensorInvalidInfo, file(8, entry("x", "F32", "[1]", "0", "8")), dir);
        assertRejected(ErrorKind.TensorInvalidInfo, file(4, entry("x", "F32", "[0]", "0", "4")), dir);
        assertRejected(ErrorKind.TensorInvalidInfo, file(0, entry("x", "F32", "[1]", "0", "0")), dir);
    }

    @Test
    void dataShorterOrLongerThanTheTensorsIsAnIncompleteBuffer() {
        String x = entry("x", "F32", "[2]", "0", "8");
        assertRejected(ErrorKind.MetadataIncompleteBuffer, file(7, x), dir);
        assertRejected(ErrorKind.MetadataIncompleteBuffer, file(9, x), dir);
        assertRejected(ErrorKind.MetadataIncompleteBuffer, file(1, "\"__metadata__\":{}"), dir);
    }

    @Test
    void tensorFarLargerThanTheFileIsAnIncompleteBuffer() {
        assertRejected(ErrorKind.MetadataIncompleteBuffer, file(0, entry("x", "U8", "[1099511627776]", "0", "1099511627776")), dir);
        // 2^60 bytes is near the largest size whose bit count still fits in 64 bits.
        assertRejected(ErrorKind.MetadataIncompleteBuffer, file(0, entry("x", "U8", "[1152921504606846976]", "0", "1152921504606846976")), dir);
    }

    @Test
    void offsetErrorOfAnEarlierTensorWinsOverASizeErrorOfALaterOne() {
        assertRejected(ErrorKind.InvalidOffset, file(8, entry("x", "F32", "[1]", "4", "8"), entry("y", "F32", "[9]", "8", "8")), dir);
        assertRejected(ErrorKind.TensorInvalidInfo, file(8, entry("x", "F32", "[9]", "0", "4"), entry("y", "F32", "[1]", "8", "12")), dir);
    }

    @Test
    void validHeaderDescribesEveryByteOfTheFile() {
        Header h = assertAccepted(file(12, entry("x", "I32", "[1,2]", "0", "8"), entry("y", "I16", "[2]", "8", "12")), dir);
        long sum = h.tensors().stream().mapToLong(TensorInfo::byteSize).sum();
        assertEquals(h.fileSize(), h.dataStart() + sum);
        assertTrue(h.tensors().get(0).begin() == 0 && h.tensors().get(1).begin() == h.tensors().get(0).end());
    }
}
