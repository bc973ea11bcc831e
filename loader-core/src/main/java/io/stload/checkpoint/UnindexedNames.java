package io.stload.checkpoint;

import io.stload.format.Header;
import io.stload.format.TensorInfo;
import java.util.AbstractList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The tensors a shard holds that its index does not map to it, in the shard's data order: a view over the
 * shard's header, not a copy of the names. A copy cost memory per name per shard, so shards that are one file
 * under many names (each holding every tensor, each mapped only some) spent the file's whole table again for
 * every name. Immutable; iterating walks the header once.
 */
final class UnindexedNames extends AbstractList<String> {
    private final List<TensorInfo> tensors;
    private final String shard;
    private final Map<String, String> weightMap;
    private final int size;

    /**
     * @param header    the shard's header
     * @param shard     the shard's name in the index
     * @param weightMap the index: tensor name to shard name
     * @param size      how many of the header's tensors the index does not map to {@code shard}
     */
    UnindexedNames(Header header, String shard, Map<String, String> weightMap, int size) {
        this.tensors = header.tensors();
        this.shard = shard;
        this.weightMap = weightMap;
        this.size = size;
    }

    private boolean unindexed(TensorInfo t) {
        return !shard.equals(weightMap.get(t.name()));
    }

    @Override
    public String get(int index) {
        Objects.checkIndex(index, size);
        int seen = 0;
        for (TensorInfo t : tensors) {
            if (unindexed(t) && seen++ == index) {
                return t.name();
            }
        }
        throw new IllegalStateException("the header holds fewer unindexed tensors than counted");
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public Iterator<String> iterator() {
        return tensors.stream().filter(this::unindexed).map(TensorInfo::name).iterator();
    }

    // AbstractList compares and hashes by index, which here is a walk per element: walk once instead.
    @Override
    public boolean equals(Object o) {
        if (o == this) {
            return true;
        }
        if (!(o instanceof List<?> other) || other.size() != size) {
            return false;
        }
        Iterator<?> theirs = other.iterator();
        for (String name : this) {
            if (!Objects.equals(name, theirs.next())) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int hashCode() {
        int h = 1;
        for (String name : this) {
            h = 31 * h + name.hashCode();
        }
        return h;
    }
}
