/*
 * Fused CPU kernel of causal multi-head attention, registered with TensorFlow when it loads this library
 * (see core/src/main/c-include/leviathan_kernels.h for how):
 *
 * LeviathanCausalAttention(qkv [B, T, 3, H, D]) -> (y [B, T, H, D], lse [B, T, H]): per sequence and head,
 *   s_tj = q_t . k_j / sqrt(D) for j <= t, p_tj = exp(s_tj - lse_t) with lse_t = log sum_{j <= t} exp(s_tj),
 *   y_t = sum_{j <= t} p_tj v_j. (lse is an output for the gradient, which recomputes p from it.)
 *
 * LeviathanCausalAttentionGrad(qkv, y, lse, dy) -> dqkv, with g_t = dy_t . y_t:
 *   ds_tj = p_tj (dy_t . v_j - g_t), dq_t = sum_j ds_tj k_j / sqrt(D), dk_j = sum_t ds_tj q_t / sqrt(D),
 *   dv_j = sum_{t >= j} p_tj dy_t. (No gradient arrives at lse: it is not an output of the model.)
 *
 * No [T, T] matrix is stored: the scores of one row at a time. Row t reads positions <= t only and sums them
 * in an order that depends on t alone, so outputs are causal bit for bit. Work is split over the B H
 * (sequence, head) pairs.
 */
#include "leviathan_kernels.h"

/* One (sequence, head): the strided rows of q, k, v in qkv and of y (and their gradients). */
typedef struct {
  const float* q;     /* row t at q + t * qkv_stride; k and v likewise */
  const float* k;
  const float* v;
  int64_t qkv_stride; /* 3 H D */
  int64_t y_stride;   /* H D */
  int64_t lse_stride; /* H */
  int t_len, d;
  float scale;
} Head;

/*
 * xt [D][tp]: the t_len rows of x (width d, at `stride`) transposed, zero past t_len (tp >= t_len), so that
 * one row's scores are a sum over d of vectors over j.
 */
INLINE void transpose_rows(const float* restrict x, int64_t stride, int t_len, int tp, int d, float* restrict xt) {
  for (int i = 0; i < d; i++) {
    for (int j = 0; j < tp; j++) {
      xt[(int64_t) i * tp + j] = j < t_len ? x[j * stride + i] : 0.f;
    }
  }
}

/* s[j] = scale q . k_j for j <= t (kt: k transposed) */
INLINE void row_scores(const float* restrict q, const float* restrict kt, int t, int t_len, int d, float scale,
                       float* restrict s) {
  for (int j = 0; j <= t; j++) {
    s[j] = 0.f;
  }
  for (int i = 0; i < d; i++) {
    const float qi = q[i] * scale;
    const float* restrict ki = kt + (int64_t) i * t_len;
    for (int j = 0; j <= t; j++) {
      s[j] += qi * ki[j];
    }
  }
}

/* s[0..t] := their softmax; returns its log-sum-exp */
INLINE float softmax_row(float* restrict s, int t) {
  float m = s[0];
  for (int j = 1; j <= t; j++) {
    m = s[j] > m ? s[j] : m;
  }
  float sum = 0.f;
  for (int j = 0; j <= t; j++) {
    s[j] = expf(s[j] - m);
    sum += s[j];
  }
  const float inv = 1.f / sum;
  for (int j = 0; j <= t; j++) {
    s[j] *= inv;
  }
  return m + logf(sum);
}

/* scratch: kt [D T], s [T] */
INLINE void attention_body(Head h, float* restrict y, float* restrict lse, float* restrict scratch) {
  const int t_len = h.t_len, d = h.d;
  float* restrict kt = scratch;
  float* restrict s = scratch + (int64_t) d * t_len;
  transpose_rows(h.k, h.qkv_stride, t_len, t_len, d, kt);
  for (int t = 0; t < t_len; t++) {
    row_scores(h.q + t * h.qkv_stride, kt, t, t_len, d, h.scale, s);
    lse[t * h.lse_stride] = softmax_row(s, t);
    float* restrict yt = y + t * h.y_stride;
    for (int i = 0; i < d; i++) {
      yt[i] = 0.f;
    }
    for (int j = 0; j <= t; j++) {
      const float p = s[j];
      const float* restrict vj = h.v + j * h.qkv_stride;
      for (int i = 0; i < d; i++) {
        yt[i] += p * vj[i];
      }
    }
  }
}

/* dq, dk, dv: rows at the qkv stride, written here (dk, dv zeroed first). scratch: kt, vt [D T], s, dp [T] */
INLINE void attention_grad_body(Head h, const float* restrict y, const float* restrict lse, const float* restrict dy,
                                float* restrict dq, float* restrict dk, float* restrict dv, float* restrict scratch) {
  const int t_len = h.t_len, d = h.d;
  float* restrict kt = scratch;
  float* restrict vt = scratch + (int64_t) d * t_len;
  float* restrict s = scratch + 2 * (int64_t) d * t_len;
  float* restrict dp = s + t_len;
  transpose_rows(h.k, h.qkv_stride, t_len, t_len, d, kt);
  transpose_rows(h.v, h.qkv_stride, t_len, t_len, d, vt);
  for (int j = 0; j < t_len; j++) {
    for (int i = 0; i < d; i++) {
      dk[j * h.qkv_stride + i] = 0.f;
      dv[j * h.qkv_stride + i] = 0.f;
    }
  }
  for (int t = 0; t < t_len; t++) {
    const float* restrict qt = h.q + t * h.qkv_stride;
    const float* restrict dyt = dy + t * h.y_stride;
    const float* restrict yt = y + t * h.y_stride;
    row_scores(qt, kt, t, t_len, d, h.scale, s);
    const float l = lse[t * h.lse_stride];
    for (int j = 0; j <= t; j++) {
      s[j] = expf(s[j] - l); /* p_tj */
    }
    float g = 0.f;
    for (int i = 0; i < d; i++) {
      g += dyt[i] * yt[i];
    }
    /* dp[j] = dy_t . v_j, then ds = p (dp - g), times the scale */
    for (int j = 0; j <= t; j++) {
      dp[j] = 0.f;
    }
    for (int i = 0; i < d; i++) {
      const float di = dyt[i];
      const float* restrict vi = vt + (int64_t) i * t_len;
      for (int j = 0; j <= t; j++) {
        dp[j] += di * vi[j];
      }
    }
    for (int j = 0; j <= t; j++) {
      dp[j] = s[j] * (dp[j] - g) * h.scale;
    }
    float* restrict dqt = dq + t * h.qkv_stride;
    for (int i = 0; i < d; i++) {
      dqt[i] = 0.f;
    }
    for (int j = 0; j <= t; j++) {
      const float ds = dp[j];
      const float p = s[j];
      const float* restrict kj = h.k + j * h.qkv_stride;
      float* restrict dkj = dk + j * h.qkv_stride;
      float* restrict dvj = dv + j * h.qkv_stride;
      for (int i = 0; i < d; i++) {
        dqt[i] += ds * kj[i];
        dkj[i] += ds * qt[i];
        dvj[i] += p * dyt[i];
      }
    }
  }
}

/*
 * The same arithmetic for head widths D that are a multiple of 8, on 8-float vectors (GCC's vector
 * extension): a row's scores in blocks of 8 keys with the sum over d in registers, weighted sums of rows with
 * their accumulators in registers. Each score and each output row is summed in the same order as above (in
 * d for a score, in j for a row), so a row still reads positions <= t only, bit for bit.
 */
/* s[0 .. 8 blocks) = factor x . kt[:, j] (kt [D][tp], tp a multiple of 8): keys past a row's own are computed
 * and never read */
INLINE void scores8(const float* restrict x, const float* restrict kt, int tp, int d, float factor, int blocks,
                    float* restrict s) {
  int jb = 0;
  for (; jb + 4 <= blocks; jb += 4) {
    v8 a0 = SPLAT8(0.f), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < d; i++) {
      const v8 xi = SPLAT8(x[i] * factor);
      const float* restrict k = kt + (int64_t) i * tp + jb * 8;
      a0 += xi * LOAD8(k);
      a1 += xi * LOAD8(k + 8);
      a2 += xi * LOAD8(k + 16);
      a3 += xi * LOAD8(k + 24);
    }
    STORE8(s + jb * 8, a0);
    STORE8(s + jb * 8 + 8, a1);
    STORE8(s + jb * 8 + 16, a2);
    STORE8(s + jb * 8 + 24, a3);
  }
  for (; jb < blocks; jb++) {
    v8 a = SPLAT8(0.f);
    for (int i = 0; i < d; i++) {
      a += SPLAT8(x[i] * factor) * LOAD8(kt + (int64_t) i * tp + jb * 8);
    }
    STORE8(s + jb * 8, a);
  }
}

/* out[:] = sum_{j < count} w[j] rows[j * stride + :] (plus out's own values when `add`) */
INLINE void weighted_rows8(const float* restrict w, int count, const float* restrict rows, int64_t stride, int d,
                           int add, float* restrict out) {
  int i = 0;
  for (; i + 32 <= d; i += 32) {
    v8 a0 = add ? LOAD8(out + i) : SPLAT8(0.f);
    v8 a1 = add ? LOAD8(out + i + 8) : SPLAT8(0.f);
    v8 a2 = add ? LOAD8(out + i + 16) : SPLAT8(0.f);
    v8 a3 = add ? LOAD8(out + i + 24) : SPLAT8(0.f);
    for (int j = 0; j < count; j++) {
      const v8 wj = SPLAT8(w[j]);
      const float* restrict r = rows + j * stride + i;
      a0 += wj * LOAD8(r);
      a1 += wj * LOAD8(r + 8);
      a2 += wj * LOAD8(r + 16);
      a3 += wj * LOAD8(r + 24);
    }
    STORE8(out + i, a0);
    STORE8(out + i + 8, a1);
    STORE8(out + i + 16, a2);
    STORE8(out + i + 24, a3);
  }
  for (; i < d; i += 8) {
    v8 a = add ? LOAD8(out + i) : SPLAT8(0.f);
    for (int j = 0; j < count; j++) {
      a += SPLAT8(w[j]) * LOAD8(rows + j * stride + i);
    }
    STORE8(out + i, a);
  }
}

/* scratch: kt [D tp], s [tp] */
INLINE void attention8_body(Head h, float* restrict y, float* restrict lse, float* restrict scratch) {
  const int t_len = h.t_len, d = h.d, tp = (t_len + 7) / 8 * 8;
  float* restrict kt = scratch;
  float* restrict s = scratch + (int64_t) d * tp;
  transpose_rows(h.k, h.qkv_stride, t_len, tp, d, kt);
  for (int t = 0; t < t_len; t++) {
    scores8(h.q + t * h.qkv_stride, kt, tp, d, h.scale, t / 8 + 1, s);
    lse[t * h.lse_stride] = softmax_row(s, t);
    weighted_rows8(s, t + 1, h.v, h.qkv_stride, d, 0, y + t * h.y_stride);
  }
}

/* scratch: kt, vt [D tp], dkv [2 T D] (dk and dv rows, contiguous), s, dp [tp] */
INLINE void attention8_grad_body(Head h, const float* restrict y, const float* restrict lse, const float* restrict dy,
                                 float* restrict dq, float* restrict dk, float* restrict dv, float* restrict scratch) {
  const int t_len = h.t_len, d = h.d, tp = (t_len + 7) / 8 * 8;
  float* restrict kt = scratch;
  float* restrict vt = kt + (int64_t) d * tp;
  float* restrict dkv = vt + (int64_t) d * tp;
  float* restrict s = dkv + 2 * (int64_t) t_len * d;
  float* restrict dp = s + tp;
  transpose_rows(h.k, h.qkv_stride, t_len, tp, d, kt);
  transpose_rows(h.v, h.qkv_stride, t_len, tp, d, vt);
  memset(dkv, 0, sizeof(float) * 2 * (size_t) t_len * (size_t) d);
  for (int t = 0; t < t_len; t++) {
    const float* restrict qt = h.q + t * h.qkv_stride;
    const float* restrict dyt = dy + t * h.y_stride;
    const float* restrict yt = y + t * h.y_stride;
    const int blocks = t / 8 + 1;
    scores8(qt, kt, tp, d, h.scale, blocks, s);
    scores8(dyt, vt, tp, d, 1.f, blocks, dp);
    const float l = lse[t * h.lse_stride];
    float g = 0.f;
    for (int i = 0; i < d; i++) {
      g += dyt[i] * yt[i];
    }
    for (int j = 0; j <= t; j++) {
      s[j] = expf(s[j] - l);                 /* p_tj */
      dp[j] = s[j] * (dp[j] - g) * h.scale; /* ds_tj, scaled */
    }
    weighted_rows8(dp, t + 1, h.k, h.qkv_stride, d, 0, dq + t * h.qkv_stride);
    for (int j = 0; j <= t; j++) {
      float* restrict dkj = dkv + (int64_t) j * d;
      float* restrict dvj = dkv + ((int64_t) t_len + j) * d;
      const v8 ds = SPLAT8(dp[j]);
      const v8 p = SPLAT8(s[j]);
      for (int i = 0; i < d; i += 8) {
        STORE8(dkj + i, LOAD8(dkj + i) + ds * LOAD8(qt + i));
        STORE8(dvj + i, LOAD8(dvj + i) + p * LOAD8(dyt + i));
      }
    }
  }
  for (int j = 0; j < t_len; j++) {
    memcpy(dk + j * h.qkv_stride, dkv + (int64_t) j * d, sizeof(float) * (size_t) d);
    memcpy(dv + j * h.qkv_stride, dkv + ((int64_t) t_len + j) * d, sizeof(float) * (size_t) d);
  }
}

VARIANTS(attention, (Head h, float* restrict y, float* restrict lse, float* restrict scratch), (h, y, lse, scratch))
VARIANTS(attention_grad,
         (Head h, const float* restrict y, const float* restrict lse, const float* restrict dy, float* restrict dq,
          float* restrict dk, float* restrict dv, float* restrict scratch),
         (h, y, lse, dy, dq, dk, dv, scratch))
VARIANTS(attention8, (Head h, float* restrict y, float* restrict lse, float* restrict scratch), (h, y, lse, scratch))
VARIANTS(attention8_grad,
         (Head h, const float* restrict y, const float* restrict lse, const float* restrict dy, float* restrict dq,
          float* restrict dk, float* restrict dv, float* restrict scratch),
         (h, y, lse, dy, dq, dk, dv, scratch))

static void choose_variants(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    attention = attention_avx2;
    attention_grad = attention_grad_avx2;
    attention8 = attention8_avx2;
    attention8_grad = attention8_grad_avx2;
  }
}

/* ---------------------------------------------------------------------------------------------
 * Kernels: the (sequence, head) pairs split over threads.
 */

typedef struct {
  const float* qkv;
  const float* y;   /* the gradient's inputs */
  const float* lse;
  const float* dy;
  float* out[2];    /* y and lse, or dqkv */
  int64_t b, t, h, d;
  int64_t first, last; /* pairs [first, last), pair = sequence * H + head */
  int grad;
  float* scratch;
} Pairs;

static void* run_pairs(void* arg) {
  const Pairs* w = arg;
  const int64_t h_len = w->h, d = w->d, t_len = w->t;
  for (int64_t pair = w->first; pair < w->last; pair++) {
    const int64_t b = pair / h_len, head = pair % h_len;
    const int64_t qkv_row = 3 * h_len * d;
    const float* base = w->qkv + b * t_len * qkv_row + head * d;
    Head hd = {base, base + h_len * d, base + 2 * h_len * d, qkv_row, h_len * d, h_len, (int) t_len, (int) d,
               1.f / sqrtf((float) d)};
    const int64_t y_at = b * t_len * h_len * d + head * d;
    const int64_t lse_at = b * t_len * h_len + head;
    const int vectors = d % 8 == 0;
    if (!w->grad) {
      (vectors ? attention8 : attention)(hd, w->out[0] + y_at, w->out[1] + lse_at, w->scratch);
    } else {
      float* dbase = w->out[0] + b * t_len * qkv_row + head * d;
      (vectors ? attention8_grad : attention_grad)(hd, w->y + y_at, w->lse + lse_at, w->dy + y_at, dbase,
                                                   dbase + h_len * d, dbase + 2 * h_len * d, w->scratch);
    }
  }
  return NULL;
}

static void compute_attention(TF_OpKernelContext* ctx, int grad) {
  const char* name = grad ? "LeviathanCausalAttentionGrad" : "LeviathanCausalAttention";
  const int count = grad ? 4 : 1;
  TF_Status* status = tf.NewStatus();
  TF_Tensor* in[4];
  TF_Tensor* out[2] = {NULL, NULL};
  char message[160];
  if (!inputs(ctx, status, in, count)) {
    goto done;
  }
  if (tf.NumDims(in[0]) != 5 || tf.Dim(in[0], 2) != 3) {
    snprintf(message, sizeof message, "%s: qkv must be [batch, time, 3, heads, head width]", name);
    fail(ctx, status, TF_INVALID_ARGUMENT, message);
    goto done;
  }
  const int64_t b = tf.Dim(in[0], 0), t = tf.Dim(in[0], 1), h = tf.Dim(in[0], 3), d = tf.Dim(in[0], 4);
  const int64_t qkv_dims[5] = {b, t, 3, h, d};
  const int64_t y_dims[4] = {b, t, h, d};
  const int64_t lse_dims[3] = {b, t, h};
  if (grad && !(same_dims(in[1], y_dims, 4) && same_dims(in[2], lse_dims, 3) && same_dims(in[3], y_dims, 4))) {
    snprintf(message, sizeof message, "%s: y and dy must be [batch, time, heads, head width], lse [batch, time, heads]",
             name);
    fail(ctx, status, TF_INVALID_ARGUMENT, message);
    goto done;
  }
  Pairs base = {.qkv = tf.TensorData(in[0]), .b = b, .t = t, .h = h, .d = d, .grad = grad};
  if (grad) {
    base.y = tf.TensorData(in[1]);
    base.lse = tf.TensorData(in[2]);
    base.dy = tf.TensorData(in[3]);
  }
  const int outputs = grad ? 1 : 2;
  for (int i = 0; i < outputs; i++) {
    const int64_t* dims = grad ? qkv_dims : i == 0 ? y_dims : lse_dims;
    const int rank = grad ? 5 : i == 0 ? 4 : 3;
    size_t n = 1;
    for (int k = 0; k < rank; k++) {
      n *= (size_t) dims[k];
    }
    out[i] = tf.AllocateOutput(ctx, i, TF_FLOAT, dims, rank, sizeof(float) * n, status);
    if (tf.GetCode(status) != TF_OK) {
      tf.OpKernelContext_Failure(ctx, status);
      goto done;
    }
    base.out[i] = tf.TensorData(out[i]);
  }
  const int64_t pairs = b * h;
  if (pairs == 0 || t == 0 || d == 0) {
    goto done;
  }
  int workers = threads_for(pairs);
  Pairs parts[64];
  int ok = 1;
  /* the larger of either form's: kt and vt [D, T rounded up to 8], dk and dv [T, D], two rows of scores */
  const size_t scratch = (size_t) ((grad ? 4 : 1) * d * (t + 8) + 2 * (t + 8));
  for (int i = 0; i < workers; i++) {
    parts[i] = base;
    parts[i].first = pairs * i / workers;
    parts[i].last = pairs * (i + 1) / workers;
    parts[i].scratch = malloc(sizeof(float) * scratch);
    ok = ok && parts[i].scratch != NULL;
  }
  if (ok) {
    run_all(parts, sizeof(Pairs), workers, run_pairs);
  } else {
    snprintf(message, sizeof message, "%s: out of memory", name);
    fail(ctx, status, TF_RESOURCE_EXHAUSTED, message);
  }
  for (int i = 0; i < workers; i++) {
    free(parts[i].scratch);
  }
done:
  release(in, count);
  release(out, 2);
  tf.DeleteStatus(status);
}

static void attention_kernel(void* kernel, TF_OpKernelContext* ctx) {
  (void) kernel;
  compute_attention(ctx, 0);
}

static void attention_grad_kernel(void* kernel, TF_OpKernelContext* ctx) {
  (void) kernel;
  compute_attention(ctx, 1);
}

/* ---------------------------------------------------------------------------------------------
 * Registration.
 */

/* y [B, T, H, D] and lse [B, T, H] from qkv [B, T, 3, H, D]. */
static void attention_shapes(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeHandle* y = tf.NewShapeHandle();
  TF_ShapeHandle* lse = tf.NewShapeHandle();
  rows_shape(ctx, status, 5, 3, 5, y);
  if (tf.GetCode(status) == TF_OK) {
    rows_shape(ctx, status, 5, 3, 4, lse);
  }
  if (tf.GetCode(status) == TF_OK) {
    tf.ShapeInferenceContextSetOutput(ctx, 0, y, status);
  }
  if (tf.GetCode(status) == TF_OK) {
    tf.ShapeInferenceContextSetOutput(ctx, 1, lse, status);
  }
  tf.DeleteShapeHandle(y);
  tf.DeleteShapeHandle(lse);
}

SHAPES(attention_grad_shapes, 0)

static const char* const attention_in[] = {"qkv: float"};
static const char* const attention_out[] = {"y: float", "lse: float"};
static const char* const grad_in[] = {"qkv: float", "y: float", "lse: float", "dy: float"};
static const char* const grad_out[] = {"dqkv: float"};
static const OpDef OPS[] = {
    {"LeviathanCausalAttention", attention_in, 1, attention_out, 2, attention_shapes, attention_kernel, NULL, 0, NULL,
     NULL},
    {"LeviathanCausalAttentionGrad", grad_in, 4, grad_out, 1, attention_grad_shapes, attention_grad_kernel, NULL, 0,
     NULL, NULL},
};

__attribute__((constructor)) static void register_kernels(void) {
  if (tf_api("leviathan-attention")) {
    choose_variants();
    register_ops("leviathan-attention", OPS, (int) (sizeof OPS / sizeof OPS[0]));
  }
}
