package io.stload.cuda;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.util.Locale;

/** How staging windows become page-locked, which is what lets the device DMA from them at full speed. */
public enum Pinning {
    /** cudaHostAlloc: the driver allocates and pins. The default. */
    HOST_ALLOC,
    /** cudaHostRegister of page-aligned memory allocated through FFM: the alternative, kept to measure against. */
    HOST_REGISTER;

    /**
     * Parses the {@code --pinning} flag.
     *
     * @param value {@code alloc} (or {@code host-alloc}) or {@code register} (or {@code host-register}), any case
     * @return the pinning
     * @throws StloadException {@link ErrorKind#Usage} for any other value
     */
    public static Pinning parse(String value) {
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "alloc", "host-alloc" -> HOST_ALLOC;
            case "register", "host-register" -> HOST_REGISTER;
            default -> throw new StloadException(ErrorKind.Usage, null, "unknown --pinning '" + value
                    + "'; expected alloc|register");
        };
    }
}
