package io.stload.jlama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.DistributedContext;
import com.github.tjake.jlama.model.ModelSupport.ModelType;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.safetensors.SafeTensorSupport;
import com.github.tjake.jlama.safetensors.TensorInfo;
import com.github.tjake.jlama.safetensors.WeightLoader;
import com.github.tjake.jlama.tensor.AbstractTensor;
import io.stload.checkpoint.Checkpoint;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Thresholds;
import io.stload.report.LoadReport;
import java.io.File;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Jlama worker's model built on the worker loader ({@link StloadWeightLoader#load(Checkpoint, LoadOptions,
 * DistributedContext, ModelType)}) gets, for every tensor its model asks for, Jlama's own loader's tensor (for column
 * cuts, the cut Jlama means), and the load put exactly those bytes in memory: nothing was read outside the rank
 * plan, and a rank of two read less than the checkpoint.
 */
class JlamaWorkerTest {
    @TempDir
    static Path tmp;
    static Path bf16;
    static Path i8;

    @BeforeAll
    static void writeModels() throws Exception {
        bf16 = TinyLlama.write(tmp.resolve("tiny"), 11);
        i8 = TinyLlama.quantizeI8(bf16, tmp.resolve("tiny-JI8"));
    }

    @Test
    void eachModelShardOfTwoHoldsJlamasTensorsAndReadsOnlyItsShare() throws Exception {
        for (Path model : new Path[] {bf16, i8}) {
            for (int rank = 0; rank < 2; rank++) {
                int r = rank;
                LoadReport report = assertWorker(model, c -> DistributedContext.builder(c).setModelShard(r)
                        .setNumModelShards(2).build(), model == bf16 ? LoadStrategy.MMAP : LoadStrategy.DIRECT);
                assertEquals(r, report.rank());
                assertEquals(2, report.worldSize());
            }
        }
    }

    @Test
    void eachLayerShardHoldsOnlyItsLayers() throws Exception {
        for (int shard = 0; shard < 2; shard++) {
            int s = shard;
            LoadReport report = assertWorker(bf16, c -> DistributedContext.builder(c).setLayerShard(s)
                    .setNumLayerShards(2).build(), LoadStrategy.MMAP);
            try (Checkpoint ckpt = Checkpoint.open(bf16)) {
                String other = "model.layers." + (1 - s) + ".";
                long otherBytes = ckpt.tensors().values().stream().filter(t -> t.name().startsWith(other))
                        .mapToLong(t -> t.info().byteSize()).sum();
                assertTrue(otherBytes > 0);
                assertEquals(ckpt.totalBytes() - otherBytes, report.bytes(), "every tensor but the other shard's layers");
            }
        }
    }

    private static final Thresholds EXACT_READS;

    static {
        Thresholds d = Thresholds.DEFAULTS;
        EXACT_READS = new Thresholds(d.residentForMmap(), d.smallReadBytes(), d.headroomFactor(), d.coldLocal(),
                d.prefetchWindow(), d.prefetchAhead(), d.directBlock(), 0);
    }

    /**
     * Builds the worker's model twice, on Jlama's own loader and on the worker loader, recording what the model asks
     * each for; compares them call for call.
     */
    private static LoadReport assertWorker(Path model, Function<com.github.tjake.jlama.safetensors.Config,
            DistributedContext> context, LoadStrategy strategy) throws Exception {
        Recording jlama = build(model, context, SafeTensorSupport::loadWeights);
        try (Checkpoint ckpt = Checkpoint.open(model)) {
            AtomicReference<StloadWeightLoader> worker = new AtomicReference<>();
            AtomicReference<DistributedContext> dctx = new AtomicReference<>();
            Recording ours = build(model, c -> {
                dctx.set(context.apply(c));
                return dctx.get();
            }, dir -> {
                worker.set(StloadWeightLoader.load(ckpt, LoadOptions.DEFAULTS.withStrategy(strategy)
                        .withThresholds(EXACT_READS), dctx.get(), ModelType.LLAMA));
                return worker.get();
            });
            try (StloadWeightLoader w = worker.get();
                 WeightLoader whole = SafeTensorSupport.loadWeights(model.toFile())) {
                assertEquals(jlama.calls.keySet(), ours.calls.keySet(), "the model asks both loaders the same");
                long asked = 0;
                for (Map.Entry<Call, AbstractTensor> e : jlama.calls.entrySet()) {
                    Call call = e.getKey();
                    AbstractTensor mine = ours.calls.get(call);
                    if (call.columns() && dctx.get().hasModelShard()) {
                        Parity.assertColumns(call.toString(), whole.load(call.name()), e.getValue(), mine, dctx.get());
                    } else {
                        Parity.assertSameTensor(call.toString(), e.getValue(), mine);
                    }
                    asked += mine.getMemorySegment().byteSize();
                    if (whole.tensorInfoMap().get(call.name()).dType == DType.I8) {
                        asked += ((com.github.tjake.jlama.tensor.Q8ByteBufferTensor) mine).getBlockF()
                                .getMemorySegment().byteSize();
                    }
                }
                LoadReport report = w.report().orElseThrow();
                assertEquals(0, w.unplannedBytes(), "nothing read outside the rank plan");
                assertEquals(asked, report.bytes(), "the load held what the model asked for, and nothing else");
                // Direct reads whole aligned blocks, which in a checkpoint this small cover every byte; mmap (of a
                // file in memory, read with buffered reads) reads exactly the rank's ranges when no gap is bridged.
                if (dctx.get().hasModelShard() && strategy != LoadStrategy.DIRECT) {
                    assertTrue(report.bytesRead() < ckpt.totalBytes(), "a rank of two reads less than all of it");
                }
                return report;
            }
        }
    }

    /** One call of a model to its loader. */
    private record Call(String name, boolean rows, boolean columns) {
    }

    /** A loader that records each call and the tensor it returned. */
    private static final class Recording implements WeightLoader {
        final WeightLoader delegate;
        final Map<Call, AbstractTensor> calls = new ConcurrentHashMap<>();

        Recording(WeightLoader delegate) {
            this.delegate = delegate;
        }

        @Override
        public Map<String, String> metadata() {
            return delegate.metadata();
        }

        @Override
        public Map<String, TensorInfo> tensorInfoMap() {
            return delegate.tensorInfoMap();
        }

        @Override
        public AbstractTensor load(String name, DistributedContext dctx, boolean sparseRows, boolean sparseColumns) {
            AbstractTensor t = delegate.load(name, dctx, sparseRows, sparseColumns);
            calls.put(new Call(name, dctx != null && sparseRows, dctx != null && sparseColumns), t);
            return t;
        }

        @Override
        public DType getModelDType() {
            return delegate.getModelDType();
        }

        @Override
        public void close() throws Exception {
            delegate.close();
        }
    }

    private static Recording build(Path model, Function<com.github.tjake.jlama.safetensors.Config,
            DistributedContext> context, Function<File, WeightLoader> loader) {
        AtomicReference<Recording> recording = new AtomicReference<>();
        AbstractModel m = ModelSupport.loadModel(AbstractModel.InferenceType.FULL_GENERATION, model.toFile(), null,
                DType.F32, DType.F32, Optional.empty(), Optional.empty(), Optional.of(context), dir -> {
                    recording.set(new Recording(loader.apply(dir)));
                    return recording.get();
                });
        m.close();
        return recording.get();
    }
}
