package ref;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;

import java.util.ArrayList;
import java.util.List;

/**
 * The model of docs/reference/pytorch_step.py, written with DJL NDArray ops on the PyTorch engine.
 *
 * <p>Every op used here maps 1:1 onto a libtorch op (torch::nn::functional::linear, layer_norm,
 * gelu, embedding, matmul, softmax, log_softmax, gather, cumsum, sigmoid, exp, max, ...). Weights
 * use torch's [out, in] layout.
 */
final class Model {

    static final float LN_EPS = 1e-5f;

    /** One trainable tensor plus its AdamW state. */
    static final class Param {
        final String name;
        final NDArray w;
        final boolean decay; // weight decay only for tensors with dim >= 2 (like the Python script)
        NDArray m;
        NDArray v;

        Param(String name, NDArray w) {
            this.name = name;
            this.w = w;
            this.decay = w.getShape().dimension() >= 2;
        }
    }

    final String mixer;
    final int vocab;
    final int c;
    final int context;
    final int layers;
    final int heads = 4;
    final int window = 32;
    final int rank = 64;

    final NDManager pm;
    final List<Param> params = new ArrayList<>();

    // embeddings and final norm
    final NDArray wte;
    final NDArray wpe;
    final NDArray normW;
    final NDArray normB;
    final Block[] blocks;

    // constants (not trained)
    final NDArray one; // scalar 1
    final NDArray sqrtHead; // scalar sqrt(C / heads)
    final NDArray causalAdd; // [context, context] 0 on/below the diagonal, -inf above
    final NDArray insideF; // [context, context] 1 inside the local window (0 <= lag < window), else 0

    final class Block {
        NDArray n1W, n1B, n2W, n2B, fcW, fcB, projW, projB;
        // mixer params
        NDArray qkvW, qkvB, outW, outB, u, v;

        NDArray forward(NDArray x) {
            NDArray h = LayerNorm.layerNorm(x, new Shape(c), n1W, n1B, LN_EPS).head();
            x = x.add(mix(h));
            h = LayerNorm.layerNorm(x, new Shape(c), n2W, n2B, LN_EPS).head();
            NDArray f = Activation.gelu(Linear.linear(h, fcW, fcB).head());
            return x.add(Linear.linear(f, projW, projB).head());
        }

        NDArray mix(NDArray x) {
            switch (mixer) {
                case "attention":
                    return attention(x);
                case "aft-simple":
                    return aftSimple(x);
                case "aft-local":
                    return aftLocal(x);
                case "mlgru":
                    return mlgru(x);
                default:
                    throw new IllegalArgumentException("unknown mixer " + mixer);
            }
        }

        NDArray attention(NDArray x) {
            Shape s = x.getShape();
            long b = s.get(0), t = s.get(1);
            long hd = c / heads;
            NDArray qkv =
                    Linear.linear(x, qkvW, qkvB)
                            .head()
                            .reshape(b, t, 3, heads, hd)
                            .transpose(2, 0, 3, 1, 4); // [3, B, H, T, hd]
            NDArray q = qkv.get(qkv.getManager(), 0);
            NDArray k = qkv.get(qkv.getManager(), 1);
            NDArray vv = qkv.get(qkv.getManager(), 2);
            NDArray scores = q.matMul(k.swapAxes(2, 3)).div(sqrtHead);
            NDArray a = scores.add(mask(causalAdd, t)).softmax(3);
            NDArray y = a.matMul(vv).swapAxes(1, 2).reshape(b, t, c);
            return Linear.linear(y, outW, outB).head();
        }

        NDArray aftSimple(NDArray x) {
            NDList qkv = Linear.linear(x, qkvW).head().split(3, 2);
            NDArray q = qkv.get(0), k = qkv.get(1), vv = qkv.get(2);
            NDArray ek = k.sub(k.max(new int[] {1}, true).stopGradient()).exp();
            NDArray y = Activation.sigmoid(q).mul(ek.mul(vv).cumSum(1)).div(ek.cumSum(1));
            return Linear.linear(y, outW).head();
        }

        NDArray aftLocal(NDArray x) {
            long t = x.getShape().get(1);
            NDList qkv = Linear.linear(x, qkvW).head().split(3, 2);
            NDArray q = qkv.get(0), k = qkv.get(1), vv = qkv.get(2);
            NDArray ut = t == context ? u : u.get("0:" + t);
            NDArray vt = t == context ? v : v.get("0:" + t);
            NDArray w = ut.matMul(vt.transpose()).mul(mask(insideF, t));
            w = w.add(mask(causalAdd, t)); // == masked_fill(~causal, -inf)
            NDArray ew = w.sub(w.stopGradient().max()).exp();
            NDArray ek = k.sub(k.max(new int[] {1}, true).stopGradient()).exp();
            NDArray num = ew.matMul(ek.mul(vv));
            NDArray den = ew.matMul(ek);
            return Linear.linear(Activation.sigmoid(q).mul(num).div(den), outW).head();
        }

        NDArray mlgru(NDArray x) {
            Shape s = x.getShape();
            long b = s.get(0), t = s.get(1);
            NDList fcg = Linear.linear(x, qkvW).head().split(3, 2);
            NDArray f = Activation.sigmoid(fcg.get(0));
            NDArray cand = fcg.get(1);
            NDArray uu = one.sub(f).mul(cand.mul(Activation.sigmoid(cand))); // (1-f) * silu(cand)
            NDArray fT = f.swapAxes(0, 1); // [T, B, C] views, so f[:, i] is one select
            NDArray uT = uu.swapAxes(0, 1);
            NDArray h = x.getManager().zeros(new Shape(b, c), x.getDataType());
            NDList hs = new NDList((int) t);
            for (long i = 0; i < t; i++) {
                h = fT.get(fT.getManager(), i).mul(h).add(uT.get(uT.getManager(), i));
                hs.add(h);
            }
            NDArray y = NDArrays.stack(hs, 1);
            return Linear.linear(Activation.sigmoid(fcg.get(2)).mul(y), outW).head();
        }
    }

    Model(NDManager pm, String mixer, int vocab, int c, int context, int layers) {
        this.pm = pm;
        this.mixer = mixer;
        this.vocab = vocab;
        this.c = c;
        this.context = context;
        this.layers = layers;
        if (c % heads != 0) {
            throw new IllegalArgumentException("width must be divisible by " + heads);
        }

        wte = param("wte.weight", normal(vocab, c));
        wpe = param("wpe.weight", normal(context, c));
        blocks = new Block[layers];
        for (int l = 0; l < layers; l++) {
            Block bl = new Block();
            String p = "blocks." + l + ".";
            bl.n1W = param(p + "n1.weight", pm.ones(new Shape(c)));
            bl.n1B = param(p + "n1.bias", pm.zeros(new Shape(c)));
            switch (mixer) {
                case "attention":
                    bl.qkvW = param(p + "mix.qkv.weight", normal(3 * c, c));
                    bl.qkvB = param(p + "mix.qkv.bias", pm.zeros(new Shape(3 * c)));
                    bl.outW = param(p + "mix.out.weight", normal(c, c));
                    bl.outB = param(p + "mix.out.bias", pm.zeros(new Shape(c)));
                    break;
                case "aft-simple":
                    bl.qkvW = param(p + "mix.qkv.weight", normal(3 * c, c));
                    bl.outW = param(p + "mix.out.weight", normal(c, c));
                    break;
                case "aft-local":
                    bl.qkvW = param(p + "mix.qkv.weight", normal(3 * c, c));
                    bl.outW = param(p + "mix.out.weight", normal(c, c));
                    // torch.randn(context, rank) * 0.01 (not re-initialised: name does not end in
                    // "weight")
                    bl.u = param(p + "mix.u", pm.randomNormal(0f, 0.01f, new Shape(context, rank), DataType.FLOAT32));
                    bl.v = param(p + "mix.v", pm.randomNormal(0f, 0.01f, new Shape(context, rank), DataType.FLOAT32));
                    break;
                case "mlgru":
                    bl.qkvW = param(p + "mix.fcg.weight", normal(3 * c, c));
                    bl.outW = param(p + "mix.out.weight", normal(c, c));
                    break;
                default:
                    throw new IllegalArgumentException("unknown mixer " + mixer);
            }
            bl.n2W = param(p + "n2.weight", pm.ones(new Shape(c)));
            bl.n2B = param(p + "n2.bias", pm.zeros(new Shape(c)));
            bl.fcW = param(p + "fc.weight", normal(4 * c, c));
            bl.fcB = param(p + "fc.bias", pm.zeros(new Shape(4 * c)));
            bl.projW = param(p + "proj.weight", normal(c, 4 * c));
            bl.projB = param(p + "proj.bias", pm.zeros(new Shape(c)));
            blocks[l] = bl;
        }
        normW = param("norm.weight", pm.ones(new Shape(c)));
        normB = param("norm.bias", pm.zeros(new Shape(c)));

        one = pm.create(1f);
        sqrtHead = pm.create((float) Math.sqrt(c / heads));
        float[] causal = new float[context * context];
        float[] inside = new float[context * context];
        for (int i = 0; i < context; i++) {
            for (int j = 0; j < context; j++) {
                int lag = i - j;
                causal[i * context + j] = lag >= 0 ? 0f : Float.NEGATIVE_INFINITY;
                inside[i * context + j] = lag >= 0 && lag < window ? 1f : 0f;
            }
        }
        causalAdd = pm.create(causal, new Shape(context, context));
        insideF = pm.create(inside, new Shape(context, context));
    }

    private NDArray normal(long rows, long cols) {
        return pm.randomNormal(0f, 0.02f, new Shape(rows, cols), DataType.FLOAT32);
    }

    private NDArray param(String name, NDArray w) {
        w.setRequiresGradient(true);
        Param p = new Param(name, w);
        p.m = pm.zeros(w.getShape(), w.getDataType());
        p.v = pm.zeros(w.getShape(), w.getDataType());
        params.add(p);
        return w;
    }

    private NDArray mask(NDArray full, long t) {
        return t == context ? full : full.get("0:" + t + ", 0:" + t);
    }

    long numParams() {
        long n = 0;
        for (Param p : params) {
            n += p.w.size();
        }
        return n;
    }

    /** idx [B, T] int64 to logits [B, T, vocab]. */
    NDArray logits(NDArray idx) {
        long t = idx.getShape().get(1);
        NDArray pos = idx.getManager().arange(0, (int) t, 1, DataType.INT64);
        NDArray x =
                Embedding.embedding(idx, wte, SparseFormat.DENSE)
                        .head()
                        .add(Embedding.embedding(pos, wpe, SparseFormat.DENSE).head());
        for (Block b : blocks) {
            x = b.forward(x);
        }
        NDArray xn = LayerNorm.layerNorm(x, new Shape(c), normW, normB, LN_EPS).head();
        return Linear.linear(xn, wte).head(); // == xn @ wte.weight.T (tied output)
    }

    /** Mean cross-entropy: log_softmax + gather of the target log-probabilities. */
    NDArray loss(NDArray idx, NDArray targets) {
        NDArray lg = logits(idx);
        long n = targets.size();
        NDArray lsm = lg.reshape(n, vocab).logSoftmax(1);
        return lsm.gather(targets.reshape(n, 1), 1).mean().neg();
    }
}
