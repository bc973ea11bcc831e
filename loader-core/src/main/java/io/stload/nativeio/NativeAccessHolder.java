package io.stload.nativeio;

/** Lazily picks the implementation once per process. */
final class NativeAccessHolder {
    static final NativeAccess INSTANCE = choose();

    private NativeAccessHolder() {
    }

    private static NativeAccess choose() {
        String os = System.getProperty("os.name", "");
        if (!os.equals("Linux")) {
            return fallback(System.Logger.Level.DEBUG, "not Linux: " + os);
        }
        // Asked before any binding: binding without access would print the JDK's restricted-method warnings.
        Module module = NativeAccessHolder.class.getModule();
        if (!module.isNativeAccessEnabled()) {
            return fallback(System.Logger.Level.WARNING, "native access disabled: run java with " + enableFlag(module));
        }
        try {
            return new PosixNativeAccess();
        } catch (ExceptionInInitializerError e) {
            // LibC binds in its static initializer, so its failure arrives wrapped.
            return fallback(System.Logger.Level.WARNING, reason(e.getCause() != null ? e.getCause() : e, module));
        } catch (LinkageError | RuntimeException e) {
            return fallback(System.Logger.Level.WARNING, reason(e, module));
        }
    }

    /** The exact flag that grants this module native access: its name on the module path, else ALL-UNNAMED. */
    static String enableFlag(Module module) {
        return "--enable-native-access=" + (module.isNamed() ? module.getName() : "ALL-UNNAMED");
    }

    /** A misconfiguration is a warning (every read takes the slow path); another OS is just a fact. */
    private static NativeAccess fallback(System.Logger.Level level, String reason) {
        System.getLogger("io.stload.nativeio").log(level,
                "no native access, pure-Java reads and no advice: {0}", reason);
        return new FallbackNativeAccess(reason);
    }

    private static String reason(Throwable failure, Module module) {
        if (failure instanceof IllegalCallerException) {
            return "native access disabled: run java with " + enableFlag(module) + " (" + failure.getMessage() + ")";
        }
        return "libc binding failed: " + failure;
    }
}
