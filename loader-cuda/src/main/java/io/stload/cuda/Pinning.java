package io.stload.cuda;

import io.stload.StloadException;
import java.util.Locale;

/** How staging windows become page-locked, which is what lets the device DMA from them at full speed. */
public enum Pinning {
    /** cudaHostAlloc: the driver allocates and pins. The default. */
    HOST_ALLOC,
    /** cudaHostRegister of page-aligned memory allocated through FFM: the alternative, kept to measure against. */
    HOST_REGISTER;

    /**
     * The pinning a user's text names, case-insensitively.
     *
     * @param value {@code alloc} (or {@code host-alloc}) or {@code register} (or {@code host-register})
     * @return the pinning it names
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} for anything else (null included), with a message listing the valid values
     */
    public static Pinning parse(String value) {
        StloadException.requireNonNull(value, "unknown pinning null; expected alloc|register");
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "alloc", "host-alloc" -> HOST_ALLOC;
            case "register", "host-register" -> HOST_REGISTER;
            default -> throw StloadException.usage("unknown pinning '" + value + "'; expected alloc|register");
        };
    }
}
