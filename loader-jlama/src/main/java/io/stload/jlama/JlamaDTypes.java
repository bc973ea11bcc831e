package io.stload.jlama;

import com.github.tjake.jlama.safetensors.DType;
import io.stload.format.TensorInfo;

/** The dtypes Jlama and the safetensors format share, by the name both spell them with. */
final class JlamaDTypes {
    private JlamaDTypes() {
    }

    /**
     * Jlama's name for a tensor's dtype.
     *
     * @param info the tensor
     * @return Jlama's dtype of that spelling, or null where Jlama has none (F8, F6, F4, C64, ...)
     */
    static DType of(TensorInfo info) {
        return of(info.dtypeName()); // a dtype the format lacks (Jlama's Q4, opened AS_RAW) by its header's spelling
    }

    private static DType of(String spelling) {
        for (DType d : DType.values()) {
            if (d.name().equals(spelling)) {
                return d;
            }
        }
        return null;
    }
}
