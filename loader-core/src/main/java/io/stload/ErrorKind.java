package io.stload;

/**
 * What went wrong, in the words of the reference safetensors implementation where it has a name for it,
 * plus the kinds the loader adds (checkpoint layout, I/O, waiting). Each kind belongs to a {@link Category},
 * which is what an application usually branches on (the CLI gives each category its own exit code).
 */
public enum ErrorKind {
    // The reference's error variants, checked in this order by the parser.
    /** The file is shorter than the 8-byte header length. */
    HeaderTooSmall(Category.FORMAT),
    /** The header length exceeds the limit on header size. */
    HeaderTooLarge(Category.FORMAT),
    /** The header length points past the end of the file. */
    InvalidHeaderLength(Category.FORMAT),
    /** The header is not valid UTF-8. */
    InvalidHeader(Category.FORMAT),
    /** The header is JSON, but not a table of tensors and metadata. */
    InvalidHeaderDeserialization(Category.FORMAT),
    /** A tensor's data offsets overlap another's, leave a hole, or run backwards. */
    InvalidOffset(Category.FORMAT),
    /** A tensor's size in bytes overflows. */
    ValidationOverflow(Category.FORMAT),
    /** A tensor of a sub-byte dtype whose elements do not end on a byte boundary. */
    MisalignedSlice(Category.FORMAT),
    /** A tensor's byte length does not match its dtype and shape. */
    TensorInvalidInfo(Category.FORMAT),
    /** The data area's size does not match the tensors the header declares. */
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

    /** A file the checkpoint needs is not there. */
    MissingShard(Category.IO),
    /** A blob's content does not hash to the sha256 it is named by. */
    DigestMismatch(Category.IO),
    /** Reading, opening or mapping a file failed. */
    Io(Category.IO),
    /** Host or device memory for the tensors could not be allocated. */
    OutOfMemory(Category.IO),
    /** The device asked for is not there or cannot be used. */
    NoDevice(Category.IO),

    /** A wait (for a download still running, for readers to let go) ran out of time. */
    WaitTimeout(Category.TIMEOUT),
    /** A request the loader cannot take as given: an option out of range, or one that does not fit the checkpoint. */
    Usage(Category.USAGE),
    /** A tensor name the checkpoint does not hold (the reference's TensorNotFound). */
    TensorNotFound(Category.USAGE),
    /** A slice expression that does not parse, or asks for indices outside the tensor. */
    InvalidSlice(Category.USAGE),
    /**
     * The caller's own code failed while the loader called it (a consumer, an allocator, a destination, a listener):
     * the caller's exception is the cause, and no file of the checkpoint is blamed.
     */
    Callback(Category.CALLBACK),
    /** A bug in the loader (an unexpected exception), reported as such rather than relabelled as I/O. */
    Internal(Category.INTERNAL);

    /** Groups of kinds a caller handles alike. */
    public enum Category {
        /** The checkpoint is invalid: fix or replace the files. */
        FORMAT,
        /** The files or the memory for them could not be had: check the disk, the network, the memory. */
        IO,
        /** Something waited for did not happen in time. */
        TIMEOUT,
        /** The request is wrong: fix the call or the options. */
        USAGE,
        /** The caller's code, called by the loader, failed: see the cause. */
        CALLBACK,
        /** A bug in the loader. */
        INTERNAL
    }

    /** The group this kind belongs to. */
    public final Category category;

    ErrorKind(Category category) {
        this.category = category;
    }
}
