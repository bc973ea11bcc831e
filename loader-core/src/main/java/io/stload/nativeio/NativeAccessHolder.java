package io.stload.nativeio;

/** Lazily picks the implementation once per process. */
final class NativeAccessHolder {
    static final NativeAccess INSTANCE = choose();

    private NativeAccessHolder() {
    }

    private static NativeAccess choose() {
        String os = System.getProperty("os.name", "");
        if (!os.equals("Linux")) {
            return new FallbackNativeAccess("not Linux: " + os);
        }
        try {
            return new PosixNativeAccess();
        } catch (ExceptionInInitializerError e) {
            // LibC binds in its static initializer, so its failure arrives wrapped.
            return new FallbackNativeAccess(reason(e.getCause() != null ? e.getCause() : e));
        } catch (LinkageError | RuntimeException e) {
            return new FallbackNativeAccess(reason(e));
        }
    }

    private static String reason(Throwable failure) {
        if (failure instanceof IllegalCallerException) {
            return "native access disabled: " + failure.getMessage();
        }
        return "libc binding failed: " + failure;
    }
}
