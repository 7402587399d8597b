package ref;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Training-step time of the pytorch_step.py reference model through DJL 0.36.0 and the official
 * libtorch 2.7.1 CPU binaries. Prints one CSV line like the Python script:
 * mixer,context,batch,width,layers,step_ms_median,tokens_per_sec,first_step_ms,peak_rss_mb
 */
public final class Bench {

    static final int VOCAB = 65;
    static final float LR = 1e-3f;
    static final float BETA1 = 0.9f;
    static final float BETA2 = 0.99f;
    static final float EPS = 1e-8f;
    static final float WD = 0.1f;
    static final float MAX_NORM = 1.0f;

    // options
    String mixer = "attention";
    int context = 64;
    int batch = 12;
    int width = 128;
    int layers = 4;
    int warmup = 3;
    int steps = 30;
    int threads = 2;
    int seed = 1;
    String adam = "fused"; // fused: DJL/libtorch native adamUpdate; ops: explicit in-place ops
    boolean check;

    Engine engine;

    public static void main(String[] args) throws Exception {
        Bench b = new Bench();
        b.parse(args);
        // must be set before the engine (and any slf4j logger) is created
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        System.setProperty("org.slf4j.simpleLogger.log.ai.djl.util.cuda.CudaUtils", "error");
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("PYTORCH_VERSION", "2.7.1");
        System.setProperty("PYTORCH_FLAVOR", "cpu");
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(b.threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        b.engine = Engine.getEngine("PyTorch");
        b.printThreads();
        if (b.check) {
            b.runChecks();
        } else {
            b.bench();
        }
    }

    void parse(String[] a) {
        for (int i = 0; i < a.length; i++) {
            String k = a[i];
            if ("--check".equals(k)) {
                check = true;
                continue;
            }
            if (i + 1 >= a.length) {
                throw new IllegalArgumentException("missing value for " + k);
            }
            String v = a[++i];
            switch (k) {
                case "--mixer": mixer = v; break;
                case "--context": context = Integer.parseInt(v); break;
                case "--batch": batch = Integer.parseInt(v); break;
                case "--width": width = Integer.parseInt(v); break;
                case "--layers": layers = Integer.parseInt(v); break;
                case "--warmup": warmup = Integer.parseInt(v); break;
                case "--steps": steps = Integer.parseInt(v); break;
                case "--threads": threads = Integer.parseInt(v); break;
                case "--seed": seed = Integer.parseInt(v); break;
                case "--adam": adam = v; break;
                default: throw new IllegalArgumentException("unknown option " + k);
            }
        }
        if (!Arrays.asList("attention", "aft-simple", "aft-local", "mlgru").contains(mixer)) {
            throw new IllegalArgumentException("unknown mixer " + mixer);
        }
        if (!"fused".equals(adam) && !"ops".equals(adam)) {
            throw new IllegalArgumentException("--adam must be fused or ops");
        }
    }

    void printThreads() {
        System.err.printf(
                "# torch %s (DJL %s, %s), intra-op threads %d, inter-op threads %d, features %s%n",
                engine.getVersion(),
                Engine.getDjlVersion(),
                JniUtils.class.getPackage().getName(),
                JniUtils.getNumThreads(),
                JniUtils.getNumInteropThreads(),
                JniUtils.getFeatures());
    }

    Model newModel(NDManager pm, String mix) {
        engine.setRandomSeed(seed); // torch::manual_seed
        return new Model(pm, mix, VOCAB, width, context, layers);
    }

    // ---------------------------------------------------------------- training step

    /**
     * forward + loss + backward + clip_grad_norm_(1.0) + AdamW. Returns the loss NDArray (still
     * open; the caller's NDScope closes it).
     */
    NDArray step(Model model, NDArray idx, NDArray targets, int t) {
        NDArray loss;
        try (GradientCollector gc = engine.newGradientCollector()) {
            loss = model.loss(idx, targets);
            gc.backward(loss);
        }
        // grad mode is off again here (DJL's default), so the updates below are not recorded
        List<NDArray> grads = new ArrayList<>(model.params.size());
        for (Model.Param p : model.params) {
            grads.add(p.w.getGradient());
        }
        clipGradNorm(grads, MAX_NORM);
        adamw(model, grads, t);
        return loss;
    }

    /** torch.nn.utils.clip_grad_norm_: coef = clamp(max / (total + 1e-6), max=1), grads *= coef. */
    static void clipGradNorm(List<NDArray> grads, float maxNorm) {
        NDList norms = new NDList(grads.size());
        for (NDArray g : grads) {
            norms.add(g.norm());
        }
        NDArray total = NDArrays.stack(norms).norm();
        NDArray coef = total.getManager().create(maxNorm).div(total.add(1e-6f)).minimum(1f);
        for (NDArray g : grads) {
            g.muli(coef);
        }
    }

    /**
     * torch.optim.AdamW (amsgrad=False, maximize=False), step t (1-based):
     *
     * <pre>
     *   p *= 1 - lr*wd                       (wd = 0.1 for dim >= 2, else 0)
     *   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
     *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
     * </pre>
     *
     * "fused" uses DJL's native adamUpdate (one libtorch call chain per tensor, AdamW decay
     * variant) with its learning-rate / eps arguments chosen so the formula is exactly the one
     * above: lr*sqrt(bc2)/bc1 * m / (sqrt(v) + eps*sqrt(bc2)). It also zeroes the gradient.
     */
    void adamw(Model model, List<NDArray> grads, int t) {
        double bc1 = 1 - Math.pow(BETA1, t);
        double bc2 = 1 - Math.pow(BETA2, t);
        double sbc2 = Math.sqrt(bc2);
        for (int i = 0; i < model.params.size(); i++) {
            Model.Param p = model.params.get(i);
            NDArray g = grads.get(i);
            float wd = p.decay ? WD : 0f;
            if ("fused".equals(adam)) {
                p.w.getNDArrayInternal()
                        .adamUpdate(
                                new NDList(p.w, g, p.m, p.v),
                                new NDList(p.w),
                                LR,
                                (float) (LR * sbc2 / bc1),
                                wd,
                                1f,
                                -1f, // no per-element clipping
                                BETA1,
                                BETA2,
                                (float) (EPS * sbc2),
                                false,
                                true);
            } else {
                if (wd != 0f) {
                    p.w.muli(1f - LR * wd);
                }
                p.m.muli(BETA1).addi(g.mul(1f - BETA1));
                p.v.muli(BETA2).addi(g.mul(g).muli(1f - BETA2));
                NDArray denom = p.v.sqrt().divi((float) sbc2).addi(EPS);
                p.w.subi(p.m.div(denom).muli((float) (LR / bc1)));
                JniUtils.zeroGrad((PtNDArray) p.w);
            }
        }
    }

    // ---------------------------------------------------------------- benchmark

    void bench() {
        try (NDManager pm = engine.newBaseManager()) {
            Model model = newModel(pm, mixer);
            double[] times = new double[steps];
            double first = 0;
            int live0 = pm.getManagedArrays().size();
            for (int s = 0; s < warmup + steps; s++) {
                try (NDManager sm = pm.newSubManager();
                        NDScope scope = new NDScope()) {
                    NDArray idx = sm.randomInteger(0, VOCAB, new Shape(batch, context), DataType.INT64);
                    NDArray tgt = sm.randomInteger(0, VOCAB, new Shape(batch, context), DataType.INT64);
                    long start = System.nanoTime();
                    step(model, idx, tgt, s + 1);
                    double ms = (System.nanoTime() - start) / 1e6;
                    if (s == 0) {
                        first = ms;
                    }
                    if (s >= warmup) {
                        times[s - warmup] = ms;
                    }
                }
            }
            double median = median(times);
            // leak check: arrays still attached to the parameter manager after all steps
            System.err.printf("# arrays attached to the model manager: %d before the steps, %d after%n",
                    live0, pm.getManagedArrays().size());
            System.out.printf(
                    Locale.ROOT,
                    "%s,%d,%d,%d,%d,%.3f,%.1f,%.1f,%.1f%n",
                    mixer, context, batch, width, layers, median,
                    batch * context / median * 1000, first, peakRssMb());
        }
    }

    static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    static double peakRssMb() {
        try {
            for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    String[] f = line.trim().split("\\s+");
                    return Long.parseLong(f[1]) / 1024.0; // kB -> MB
                }
            }
        } catch (IOException e) {
            // fall through
        }
        return -1;
    }

    // ---------------------------------------------------------------- checks

    void runChecks() {
        String[] mixers = {"attention", "aft-simple", "aft-local", "mlgru"};
        boolean ok = true;
        for (String mix : mixers) {
            ok &= checkMixer(mix);
        }
        ok &= checkClipAndAdam();
        System.err.println(ok ? "# ALL CHECKS PASSED" : "# SOME CHECKS FAILED");
        if (!ok) {
            System.exit(1);
        }
    }

    boolean checkMixer(String mix) {
        boolean ok = true;
        try (NDManager pm = engine.newBaseManager()) {
            Model model = newModel(pm, mix);
            NDManager dm = pm.newSubManager();
            NDArray idx = dm.randomInteger(0, VOCAB, new Shape(batch, context), DataType.INT64);
            NDArray tgt = dm.randomInteger(0, VOCAB, new Shape(batch, context), DataType.INT64);

            // (1) initial loss ~ ln(65)
            float loss0;
            try (NDScope scope = new NDScope()) {
                loss0 = model.loss(idx, tgt).getFloat();
            }
            boolean ok1 = Math.abs(loss0 - Math.log(VOCAB)) < 0.1;
            System.err.printf(Locale.ROOT, "[%s] params=%d initial loss %.4f (ln 65 = %.4f) %s%n",
                    mix, model.numParams(), loss0, Math.log(VOCAB), ok1 ? "OK" : "FAIL");
            ok &= ok1;

            // (3) causality: changing token t must not change logits at positions < t
            ok &= checkCausality(model, mix);

            // (2) overfit 200 steps on the one fixed batch
            StringBuilder sb = new StringBuilder();
            float last = 0;
            long start = System.nanoTime();
            for (int s = 0; s < 200; s++) {
                try (NDScope scope = new NDScope()) {
                    float l = step(model, idx, tgt, s + 1).getFloat();
                    if (s == 0 || s == 49 || s == 99 || s == 149 || s == 199) {
                        sb.append(String.format(Locale.ROOT, " %d:%.4f", s + 1, l));
                    }
                    last = l;
                }
            }
            double secs = (System.nanoTime() - start) / 1e9;
            try (NDScope scope = new NDScope()) {
                last = model.loss(idx, tgt).getFloat();
            }
            boolean ok2 = last < 0.5 * loss0;
            System.err.printf(Locale.ROOT,
                    "[%s] overfit one batch, loss at step%s; after 200 steps %.4f (%.1fs) %s%n",
                    mix, sb, last, secs, ok2 ? "OK" : "FAIL");
            ok &= ok2;
            dm.close();
        }
        return ok;
    }

    boolean checkCausality(Model model, String mix) {
        int b = 2;
        long[] base = new long[b * context];
        java.util.Random r = new java.util.Random(seed);
        for (int i = 0; i < base.length; i++) {
            base[i] = r.nextInt(VOCAB);
        }
        double worstBefore = 0;
        double minAfter = Double.MAX_VALUE;
        int[] ts = {1, context / 4, context / 2, context - 1};
        try (NDManager m = model.pm.newSubManager();
                NDScope scope = new NDScope()) {
            float[] ref = model.logits(m.create(base, new Shape(b, context))).toFloatArray();
            for (int t : ts) {
                long[] changed = base.clone();
                for (int i = 0; i < b; i++) {
                    changed[i * context + t] = (base[i * context + t] + 1) % VOCAB;
                }
                float[] out = model.logits(m.create(changed, new Shape(b, context))).toFloatArray();
                double before = 0, atT = 0;
                for (int i = 0; i < b; i++) {
                    for (int p = 0; p < context; p++) {
                        for (int v = 0; v < VOCAB; v++) {
                            int k = (i * context + p) * VOCAB + v;
                            double d = Math.abs(out[k] - ref[k]);
                            if (p < t) {
                                before = Math.max(before, d);
                            } else if (p == t) {
                                atT = Math.max(atT, d);
                            }
                        }
                    }
                }
                worstBefore = Math.max(worstBefore, before);
                minAfter = Math.min(minAfter, atT);
            }
        }
        // exact 0 for attention; AFT's max-over-time shift (k - max_t k) cancels only up to
        // float rounding, so allow 1e-5
        boolean ok = worstBefore <= 1e-5 && minAfter > 1e-3;
        System.err.printf(Locale.ROOT,
                "[%s] causality (t in %s): max |dlogit| at positions < t = %.3g, min over t of max |dlogit| at t = %.3g %s%n",
                mix, Arrays.toString(ts), worstBefore, minAfter, ok ? "OK" : "FAIL");
        return ok;
    }

    /** Compares the fused and explicit AdamW paths, and the DJL norm against sqrt(sum g^2). */
    boolean checkClipAndAdam() {
        String saved = adam;
        float[][] res = new float[2][];
        String[] modes = {"fused", "ops"};
        float normDiff = 0;
        for (int k = 0; k < 2; k++) {
            adam = modes[k];
            try (NDManager pm = engine.newBaseManager()) {
                Model model = newModel(pm, "attention");
                NDManager dm = pm.newSubManager();
                engine.setRandomSeed(seed + 7);
                NDArray idx = dm.randomInteger(0, VOCAB, new Shape(batch, context), DataType.INT64);
                NDArray tgt = dm.randomInteger(0, VOCAB, new Shape(batch, context), DataType.INT64);
                for (int s = 0; s < 5; s++) {
                    try (NDScope scope = new NDScope()) {
                        step(model, idx, tgt, s + 1);
                    }
                }
                if (k == 0) {
                    try (NDScope scope = new NDScope()) {
                        NDArray w = model.params.get(2).w;
                        normDiff = Math.abs(w.norm().getFloat() - w.square().sum().sqrt().getFloat());
                    }
                }
                List<Float> all = new ArrayList<>();
                for (Model.Param p : model.params) {
                    for (float f : p.w.toFloatArray()) {
                        all.add(f);
                    }
                }
                res[k] = new float[all.size()];
                for (int i = 0; i < all.size(); i++) {
                    res[k][i] = all.get(i);
                }
                dm.close();
            }
        }
        adam = saved;
        double maxDiff = 0;
        for (int i = 0; i < res[0].length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(res[0][i] - res[1][i]));
        }
        boolean ok = maxDiff < 1e-5 && normDiff < 1e-4;
        System.err.printf(Locale.ROOT,
                "[adamw] fused vs explicit in-place AdamW after 5 steps: max |dparam| = %.3g; norm() vs sqrt(sum sq) diff %.3g %s%n",
                maxDiff, normDiff, ok ? "OK" : "FAIL");
        return ok;
    }
}
