package io.stload;

/**
 * What went wrong, in the words of the reference safetensors implementation where it has a name for it,
 * plus the kinds the loader adds (checkpoint layout, I/O, waiting). The CLI maps each kind's {@link Category}
 * to an exit code in one place.
 */
public enum ErrorKind {
    // The reference's error variants, checked in this order by the parser.
    HeaderTooSmall(Category.FORMAT),
    HeaderTooLarge(Category.FORMAT),
    InvalidHeaderLength(Category.FORMAT),
    InvalidHeader(Category.FORMAT),
    InvalidHeaderDeserialization(Category.FORMAT),
    InvalidOffset(Category.FORMAT),
    ValidationOverflow(Category.FORMAT),
    MisalignedSlice(Category.FORMAT),
    TensorInvalidInfo(Category.FORMAT),
    MetadataIncompleteBuffer(Category.FORMAT),
    /** Stricter than the reference, which silently keeps the last of two equal names. */
    DuplicateTensorName(Category.FORMAT),
    /** A sharded checkpoint's index is unreadable or disagrees with its shards. */
    InvalidIndex(Category.FORMAT),
    /** A hub cache's {@code refs/<revision>} file that is not a small regular file holding a commit hash. */
    InvalidRef(Category.FORMAT),
    /** A shard name that would resolve outside the checkpoint directory. */
    UnsafePath(Category.FORMAT),
    /** The request cannot be satisfied by this checkpoint (e.g. a sub-byte tensor split inside a byte). */
    Unsupported(Category.FORMAT),

    MissingShard(Category.IO),
    /** A blob's content does not hash to the sha256 it is named by. */
    DigestMismatch(Category.IO),
    Io(Category.IO),
    OutOfMemory(Category.IO),
    NoDevice(Category.IO),

    WaitTimeout(Category.TIMEOUT),
    Usage(Category.USAGE),
    /** A tensor name the checkpoint does not hold (the reference's TensorNotFound). */
    TensorNotFound(Category.USAGE),
    /** A slice expression that does not parse, or asks for indices outside the tensor. */
    InvalidSlice(Category.USAGE),
    /** A bug in the loader (an unexpected exception), reported as such rather than relabelled as I/O. */
    Internal(Category.INTERNAL);

    /** Groups of kinds that share an exit code. */
    public enum Category {
        FORMAT(3), IO(4), TIMEOUT(5), USAGE(2), INTERNAL(70);

        public final int exitCode;

        Category(int exitCode) {
            this.exitCode = exitCode;
        }
    }

    public final Category category;

    ErrorKind(Category category) {
        this.category = category;
    }
}
