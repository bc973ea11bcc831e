package io.stload.format;

/**
 * What reading a header does with a tensor whose dtype the format does not define (an engine's own quantized type,
 * such as Jlama's {@code "Q4"}).
 */
public enum UnknownDtypes {
    /**
     * The header is invalid ({@link io.stload.ErrorKind#InvalidHeaderDeserialization}), as the reference
     * implementation has it: the default.
     */
    REFUSE,
    /**
     * The tensor is let through as {@link DType#UNKNOWN}, with its declared shape and dtype spelling
     * ({@link TensorInfo#dtypeName()}), and is read whole as raw bytes: its offsets must still tile the data area,
     * but its byte length is not checked against its shape (its elements' width is unknown). It can be viewed,
     * copied, loaded and streamed whole, and replicated to every rank; it cannot be sliced, split or converted.
     */
    AS_RAW
}
