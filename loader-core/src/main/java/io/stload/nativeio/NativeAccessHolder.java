package io.stload.nativeio;

/** Lazily picks the implementation once per process. */
final class NativeAccessHolder {
    static final NativeAccess INSTANCE = null; // TODO native-access helper: PosixNativeAccess or FallbackNativeAccess

    private NativeAccessHolder() {
    }
}
