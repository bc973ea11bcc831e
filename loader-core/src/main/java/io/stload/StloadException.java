package io.stload;

import java.nio.file.Path;

/**
 * The one exception family of the loader: a kind, the file it concerns (if any) and a message a person can
 * act on. {@link #getMessage()} is the one-line form the CLI prints: {@code Kind: file: message}, with control
 * characters of names from a file escaped ({@link Printable}); {@link #detail()} is the message as given.
 */
public class StloadException extends RuntimeException {
    /** What went wrong. */
    private final ErrorKind kind;
    /** The file the error concerns, or null; not serialized, as a Path is not serializable. */
    private final transient Path file;
    /** The message without kind and file. */
    private final String detail;

    /**
     * An error with no underlying cause.
     *
     * @param kind   what went wrong
     * @param file   the file it concerns, or null
     * @param detail what happened, in words a person can act on, without kind and file
     * @throws StloadException {@link ErrorKind#Usage} if {@code kind} or {@code detail} is null
     */
    public StloadException(ErrorKind kind, Path file, String detail) {
        this(kind, file, detail, null);
    }

    /**
     * An error caused by another exception (e.g. the I/O error behind it).
     *
     * @param kind   what went wrong
     * @param file   the file it concerns, or null
     * @param detail what happened, in words a person can act on, without kind and file
     * @param cause  the exception behind it, or null
     * @throws StloadException {@link ErrorKind#Usage} if {@code kind} or {@code detail} is null
     */
    public StloadException(ErrorKind kind, Path file, String detail, Throwable cause) {
        super(format(kind, file, detail), cause);
        this.kind = kind;
        this.file = file;
        this.detail = detail;
    }

    /**
     * A caller's misuse of the API (an argument out of range, a call in the wrong state): kind {@link ErrorKind#Usage},
     * concerning no file.
     *
     * @param detail what is wrong with the call, in words a person can act on
     * @return the exception, for the caller to throw
     * @throws StloadException {@link ErrorKind#Usage} if {@code detail} is null
     */
    public static StloadException usage(String detail) {
        return new StloadException(ErrorKind.Usage, null, detail);
    }

    /**
     * {@link java.util.Objects#requireNonNull(Object, String)} with this library's contract: a null argument is the
     * caller's misuse, a {@link #usage} error.
     *
     * @param value  the argument
     * @param detail what should have been given, for the error
     * @param <T>    its type
     * @return {@code value}, when it is not null
     * @throws StloadException {@link ErrorKind#Usage} with {@code detail} if {@code value} is null, or if
     *                         {@code detail} is
     */
    public static <T> T requireNonNull(T value, String detail) {
        if (value == null || detail == null) {
            throw usage(detail); // usage(null) is itself the Usage error of a null detail
        }
        return value;
    }

    /**
     * The caller's own code (a consumer, an allocator, a destination, a listener) failed while the loader called it:
     * kind {@link ErrorKind#Callback}, concerning no file, the caller's exception as the cause.
     *
     * @param what  what the loader was doing, e.g. "the consumer failed on model.norm.weight"
     * @param cause the caller's exception
     * @return the exception, for the caller to throw
     * @throws StloadException {@link ErrorKind#Usage} if {@code what} or {@code cause} is null
     */
    public static StloadException callback(String what, Throwable cause) {
        if (what == null || cause == null) {
            throw usage("a callback error needs what the loader was doing and the caller's exception, not null");
        }
        return new StloadException(ErrorKind.Callback, null, what + ": " + described(cause), cause);
    }

    /** The caller's exception as text: its {@code toString()} is the caller's code too, and may itself throw. */
    private static String described(Throwable cause) {
        try {
            return String.valueOf(cause);
        } catch (Throwable unreadable) {
            return cause.getClass().getName() + " (its message could not be read: " + unreadable.getClass().getName()
                    + ")";
        }
    }

    /**
     * What went wrong.
     *
     * @return the kind; its {@link ErrorKind#category} groups it with kinds handled alike
     */
    public ErrorKind kind() {
        return kind;
    }

    /**
     * The file the error concerns.
     *
     * @return the file, or null when it concerns no single file
     */
    public Path file() {
        return file;
    }

    /**
     * The message without kind and file.
     *
     * @return the detail given when the exception was made
     */
    public String detail() {
        return detail;
    }

    /** Also the one place to refuse a null kind or detail: it runs before the superclass is made. */
    private static String format(ErrorKind kind, Path file, String detail) {
        if (kind == null || detail == null) {
            throw usage("an error needs its kind and its detail, not null");
        }
        return Printable.escape(file == null ? kind + ": " + detail : kind + ": " + named(file) + ": " + detail);
    }

    /**
     * A file as the user named it: an object in S3 is held as the path {@code s3:/bucket/key}, a {@code Path}
     * collapsing the URL's {@code //}, and is named by its URL again.
     */
    private static String named(Path file) {
        String text = file.toString();
        return text.startsWith("s3:/") && !text.startsWith("s3://") ? "s3://" + text.substring(4) : text;
    }
}
