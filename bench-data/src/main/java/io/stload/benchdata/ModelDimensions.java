package io.stload.benchdata;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter.Entry;
import java.util.List;

/**
 * The width and vocabulary that make a {@link ShapeKind} come out at a byte budget: the widest width (a
 * multiple of {@link ShapeKind#WIDTH_STEP}) whose nominal vocabulary still fits, then the vocabulary grown to
 * use what is left. Embedding and LM head grow by one row each per vocabulary entry, so the result falls
 * short of the budget by less than two rows. For {@link ShapeKind#MATRIX}, {@code hidden} is the width of
 * every row in elements and {@code vocab} the number of rows: as many whole rows as the budget holds.
 */
public record ModelDimensions(ShapeKind shape, long hidden, long vocab) {

    /** The dimensions a spec asks for: a matrix checkpoint's width is its row size, other shapes are fitted. */
    static ModelDimensions of(CheckpointSpec spec) {
        if (spec.shape() != ShapeKind.MATRIX) {
            return fit(spec.shape(), spec.totalBytes(), spec.dtype());
        }
        return new ModelDimensions(ShapeKind.MATRIX, spec.rowBytes() * 8 / spec.dtype().bits(),
                spec.totalBytes() / spec.rowBytes());
    }

    public static ModelDimensions fit(ShapeKind shape, long totalBytes, DType dtype) {
        if (shape == ShapeKind.MATRIX) {
            throw new IllegalArgumentException("the matrix shape is sized by its row size, not fitted to a budget");
        }
        long budgetBits = Math.multiplyExact(totalBytes, 8L);
        long step = ShapeKind.WIDTH_STEP;
        if (!fits(shape, step, budgetBits, dtype)) {
            long smallest = bits(shape, step, shape.nominalVocab(step), dtype) / 8;
            throw new IllegalArgumentException(totalBytes + " bytes is too small for a " + shape.label()
                    + " checkpoint of " + dtype + "; the smallest is " + smallest + " bytes");
        }
        long fitting = step;
        long tooWide = 2 * step;
        while (fits(shape, tooWide, budgetBits, dtype)) {
            fitting = tooWide;
            tooWide *= 2;
        }
        while (tooWide - fitting > step) {
            long mid = (fitting + tooWide) / 2 / step * step;
            if (fits(shape, mid, budgetBits, dtype)) {
                fitting = mid;
            } else {
                tooWide = mid;
            }
        }
        long vocab = (budgetBits - bits(shape, fitting, 0, dtype)) / bitsPerVocabEntry(fitting, dtype);
        return new ModelDimensions(shape, fitting, vocab);
    }

    public List<Entry> tensors(DType dtype) {
        return shape.tensors(hidden, vocab, dtype);
    }

    private static boolean fits(ShapeKind shape, long hidden, long budgetBits, DType dtype) {
        return bits(shape, hidden, shape.nominalVocab(hidden), dtype) <= budgetBits;
    }

    private static long bits(ShapeKind shape, long hidden, long vocab, DType dtype) {
        long bytes = 0;
        for (Entry e : shape.tensors(hidden, vocab, dtype)) {
            bytes = Math.addExact(bytes, e.byteSize());
        }
        return Math.multiplyExact(bytes, 8L);
    }

    /** One embedding row plus one LM-head row. */
    private static long bitsPerVocabEntry(long hidden, DType dtype) {
        return 2 * hidden * dtype.bits();
    }
}
