package io.stload.cli;

import io.stload.Printable;
import io.stload.StloadException;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.store.ReloadOptions;
import io.stload.store.ReloadOptions.CarryOver;
import io.stload.store.ReloadOptions.Mode;
import java.time.Duration;
import java.util.Optional;

/**
 * The body of {@code POST /reload}:
 * <pre>{@code
 * {"source": "/models/step-2" | "org/name@revision" | "s3://bucket/prefix/",
 *  "mode": "beside" | "in_place", "quiesce": false, "staging_bytes": 1073741824, "carry_over": true,
 *  "load_strategy": "auto", "threads": 4, "rank": 0, "world_size": 1, "partition": "default"}
 * }</pre>
 * Only {@code source} is required. Partition rules are named ({@code default}, {@code default-experts}), never read
 * from a file a request names. Another field is refused: a misspelt one would leave its setting at the default.
 *
 * @param source       what to reload from, resolved and confined by the server
 * @param mode         beside (the default) or in place
 * @param quiesce      beside: wait for reads in flight before publishing (in place always does)
 * @param stagingBytes in place: the staging bound, or empty for the server's
 * @param carryOver    false to read every tensor
 * @param strategy     the load strategy, or empty for the serving version's
 * @param threads      I/O threads, or empty for the serving version's
 * @param rank         the tensor-parallel rank, or empty for the serving version's
 * @param worldSize    the tensor-parallel world size, or empty for the serving version's
 * @param partition    the partition rules' name, or empty for the serving version's
 */
record ReloadRequest(String source, Mode mode, boolean quiesce, Optional<Long> stagingBytes, boolean carryOver,
                     Optional<LoadStrategy> strategy, Optional<Integer> threads, Optional<Integer> rank,
                     Optional<Integer> worldSize, Optional<String> partition) {
    /** The fields a body may hold, as an error lists them. */
    static final String FIELDS = "source, mode, quiesce, staging_bytes, carry_over, load_strategy, threads, rank, "
            + "world_size, partition";

    static ReloadRequest parse(byte[] body) {
        Fields f = new Fields();
        JsonBody.read(body, (p, field, value) -> {
            switch (field) {
                case "source" -> f.source = JsonBody.string(p, value, field);
                case "mode" -> f.mode = switch (JsonBody.string(p, value, field)) {
                    case "beside" -> Mode.BESIDE;
                    case "in_place" -> Mode.IN_PLACE;
                    default -> throw new BadRequest("`mode` must be \"beside\" or \"in_place\"");
                };
                case "quiesce" -> f.quiesce = JsonBody.bool(value, field);
                case "carry_over" -> f.carryOver = JsonBody.bool(value, field);
                case "staging_bytes" -> f.staging = JsonBody.number(p, value, field, 0, Long.MAX_VALUE);
                case "load_strategy" -> f.strategy = strategy(JsonBody.string(p, value, field));
                case "threads" -> f.threads = (int) JsonBody.number(p, value, field, 1, LoadFlags.MAX_THREADS);
                case "rank" -> f.rank = (int) JsonBody.number(p, value, field, 0, LoadFlags.MAX_WORLD_SIZE - 1);
                case "world_size" -> f.worldSize = (int) JsonBody.number(p, value, field, 1, LoadFlags.MAX_WORLD_SIZE);
                case "partition" -> f.partition = JsonBody.string(p, value, field);
                default -> throw new BadRequest("unknown field `" + Printable.start(field, 40) + "`; /reload takes "
                        + FIELDS);
            }
        });
        if (f.source == null || f.source.isEmpty()) {
            throw new BadRequest("`source` is required: a path, a repo id org/name[@revision], or s3://bucket/prefix/");
        }
        if (f.staging != null && f.mode != Mode.IN_PLACE) {
            throw new BadRequest("`staging_bytes` bounds a reload in place (\"mode\": \"in_place\"); beside, the new"
                    + " version is read whole");
        }
        if (f.partition != null && !f.partition.equals(PartitionSpec.DEFAULT_NAME)
                && !f.partition.equals(PartitionSpec.DEFAULT_EXPERTS_NAME)) {
            throw new BadRequest("`partition` must be \"" + PartitionSpec.DEFAULT_NAME + "\" or \""
                    + PartitionSpec.DEFAULT_EXPERTS_NAME + "\"");
        }
        return new ReloadRequest(f.source, f.mode, f.quiesce, Optional.ofNullable(f.staging), f.carryOver,
                Optional.ofNullable(f.strategy), Optional.ofNullable(f.threads), Optional.ofNullable(f.rank),
                Optional.ofNullable(f.worldSize), Optional.ofNullable(f.partition));
    }

    /** The fields as read, null where the request leaves one out. */
    private static final class Fields {
        String source;
        Mode mode = Mode.BESIDE;
        boolean quiesce;
        Long staging;
        boolean carryOver = true;
        LoadStrategy strategy;
        Integer threads;
        Integer rank;
        Integer worldSize;
        String partition;
    }

    private static LoadStrategy strategy(String name) {
        try {
            return LoadStrategy.parse(name);
        } catch (StloadException | IllegalArgumentException e) {
            throw new BadRequest("`load_strategy`: " + e.getMessage());
        }
    }

    /**
     * The reload's options: the serving version's load options with what the request changes.
     *
     * @param serving        the load options the store serves with
     * @param defaultStaging the server's staging bound
     * @param quiesceTimeout the server's quiesce timeout
     */
    ReloadOptions options(LoadOptions serving, long defaultStaging, Duration quiesceTimeout) {
        ReloadOptions how = mode == Mode.IN_PLACE ? ReloadOptions.inPlace(quiesceTimeout)
                : quiesce ? ReloadOptions.quiesced(quiesceTimeout) : ReloadOptions.IMMEDIATE;
        if (mode == Mode.IN_PLACE) {
            how = how.withStagingBytes(stagingBytes.orElse(defaultStaging));
        }
        how = how.withCarryOver(carryOver ? CarryOver.UNCHANGED : CarryOver.NONE);
        if (strategy.isEmpty() && threads.isEmpty() && rank.isEmpty() && worldSize.isEmpty() && partition.isEmpty()) {
            return how;
        }
        LoadOptions o = serving;
        if (strategy.isPresent()) {
            o = o.withStrategy(strategy.get());
        }
        if (threads.isPresent()) {
            o = o.withThreads(threads.get());
        }
        if (rank.isPresent() || worldSize.isPresent() || partition.isPresent()) {
            Partitioning p = serving.partitioning();
            int w = worldSize.orElse(p.worldSize());
            int r = rank.orElse(p.rank());
            if (r >= w) {
                throw new BadRequest("`rank` " + r + " is not below the world size " + w);
            }
            PartitionSpec spec = partition.map(PartitionSpec::load)
                    .orElse(p.worldSize() == 1 ? PartitionSpec.defaults() : p.spec());
            o = o.withPartitioning(w == 1 ? new Partitioning(0, 1, PartitionSpec.REPLICATE_ALL)
                    : new Partitioning(r, w, spec));
        }
        return how.withLoadOptions(o);
    }
}
