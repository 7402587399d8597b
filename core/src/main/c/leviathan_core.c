/*
 * Fused CPU kernels of the model's shared layers, registered with TensorFlow when it loads this library
 * (see core/src/main/c-include/leviathan_kernels.h for how). x is [..., C]: rows of C values.
 *
 * LeviathanLayerNorm(x, gain [C], bias [C]; eps) -> (y, rstd [...]): per row,
 *   y = (x - mean) rstd gain + bias, rstd = 1 / sqrt(var + eps), variance without Bessel's correction.
 * LeviathanLayerNormGrad(x, gain, bias, y, rstd, dy) -> (dx, dgain, dbias), with xh = (x - mean) rstd
 *   and g = dy gain: dx = rstd (g - mean(g) - xh mean(g xh)), dgain = sum over rows of dy xh, dbias of dy.
 *   (rstd is an output only for the gradient, which takes it instead of recomputing it: no gradient arrives
 *   at it.)
 *
 * LeviathanBiasGelu(x, b [C]) -> y = gelu(x + b), exact form: gelu(h) = h Phi(h) = h (1 + erf(h / sqrt 2)) / 2,
 *   with Phi to float rounding (see normal_cdf_pdf).
 * LeviathanBiasGeluGrad(x, b, y, dy) -> (dx, db): dx = dy (Phi(h) + h phi(h)), db = its sum over rows.
 *
 * LeviathanSigmoidGate(q, r) -> y = sigmoid(q) r, element by element (q and r of one shape).
 * LeviathanSigmoidGateGrad(q, r, y, dy) -> (dq, dr): dr = dy sigmoid(q), dq = dy r sigmoid(q) (1 - sigmoid(q)).
 *
 * Rows are independent: each output row reads its own input row only (the column sums of the gradients
 * add every row, in a fixed order for a given thread count).
 */
#include "leviathan_kernels.h"

#define SQRT1_2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f

INLINE float row_mean(const float* restrict x, int c) {
  float sum = 0.f;
  for (int i = 0; i < c; i++) {
    sum += x[i];
  }
  return sum / (float) c;
}

INLINE void layer_norm_body(const float* restrict x, const float* restrict gain, const float* restrict bias,
                            float eps, int64_t rows, int c, float* restrict y, float* restrict rstd) {
  for (int64_t r = 0; r < rows; r++) {
    const float* restrict xr = x + r * c;
    float* restrict yr = y + r * c;
    const float mean = row_mean(xr, c);
    float squares = 0.f;
    for (int i = 0; i < c; i++) {
      const float d = xr[i] - mean;
      squares += d * d;
    }
    const float s = 1.f / sqrtf(squares / (float) c + eps);
    rstd[r] = s;
    for (int i = 0; i < c; i++) {
      yr[i] = (xr[i] - mean) * s * gain[i] + bias[i];
    }
  }
}

/* dgain and dbias: this part's column sums, added to */
INLINE void layer_norm_grad_body(const float* restrict x, const float* restrict gain, const float* restrict rstd,
                                 const float* restrict dy, int64_t rows, int c, float* restrict dx,
                                 float* restrict dgain, float* restrict dbias) {
  for (int64_t r = 0; r < rows; r++) {
    const float* restrict xr = x + r * c;
    const float* restrict dyr = dy + r * c;
    float* restrict dxr = dx + r * c;
    const float mean = row_mean(xr, c);
    const float s = rstd[r];
    float g_sum = 0.f, gx_sum = 0.f;
    for (int i = 0; i < c; i++) {
      const float xh = (xr[i] - mean) * s;
      const float g = dyr[i] * gain[i];
      g_sum += g;
      gx_sum += g * xh;
      dgain[i] += dyr[i] * xh;
      dbias[i] += dyr[i];
    }
    const float g_mean = g_sum / (float) c;
    const float gx_mean = gx_sum / (float) c;
    for (int i = 0; i < c; i++) {
      const float xh = (xr[i] - mean) * s;
      dxr[i] = s * (dyr[i] * gain[i] - g_mean - xh * gx_mean);
    }
  }
}

/*
 * The standard normal's cdf Phi(h) and density phi(h), sharing one exp: Phi(-|h|) = erfc(|h| / sqrt 2) / 2 by
 * Abramowitz and Stegun's 7.1.26 (absolute error of erf below 1.5e-7: float rounding), whose exp(-z^2) is
 * exp(-h^2 / 2), the density's. Computed from the tail, so Phi(h) keeps its relative precision for h < 0.
 */
INLINE void normal_cdf_pdf(float h, float* restrict cdf, float* restrict pdf) {
  const float z = fabsf(h) * SQRT1_2;
  const float t = 1.f / (1.f + 0.3275911f * z);
  const float poly =
      t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  const float e = expf(-0.5f * h * h);
  const float tail = 0.5f * poly * e;
  *cdf = h < 0.f ? tail : 1.f - tail;
  *pdf = INV_SQRT_2PI * e;
}

INLINE void bias_gelu_body(const float* restrict x, const float* restrict b, int64_t rows, int c,
                           float* restrict y) {
  for (int64_t r = 0; r < rows; r++) {
    for (int i = 0; i < c; i++) {
      const float h = x[r * c + i] + b[i];
      float cdf, pdf;
      normal_cdf_pdf(h, &cdf, &pdf);
      y[r * c + i] = h * cdf;
    }
  }
}

/* db: this part's column sums, added to */
INLINE void bias_gelu_grad_body(const float* restrict x, const float* restrict b, const float* restrict dy,
                                int64_t rows, int c, float* restrict dx, float* restrict db) {
  for (int64_t r = 0; r < rows; r++) {
    for (int i = 0; i < c; i++) {
      const float h = x[r * c + i] + b[i];
      float cdf, pdf;
      normal_cdf_pdf(h, &cdf, &pdf);
      const float g = dy[r * c + i] * (cdf + h * pdf);
      dx[r * c + i] = g;
      db[i] += g;
    }
  }
}

VARIANTS(layer_norm,
         (const float* restrict x, const float* restrict gain, const float* restrict bias, float eps, int64_t rows,
          int c, float* restrict y, float* restrict rstd),
         (x, gain, bias, eps, rows, c, y, rstd))
VARIANTS(layer_norm_grad,
         (const float* restrict x, const float* restrict gain, const float* restrict rstd, const float* restrict dy,
          int64_t rows, int c, float* restrict dx, float* restrict dgain, float* restrict dbias),
         (x, gain, rstd, dy, rows, c, dx, dgain, dbias))
VARIANTS(sigmoid_gate, (const float* restrict q, const float* restrict r, int64_t n, float* restrict y), (q, r, n, y))
VARIANTS(sigmoid_gate_grad,
         (const float* restrict q, const float* restrict r, const float* restrict dy, int64_t n, float* restrict dq,
          float* restrict dr),
         (q, r, dy, n, dq, dr))
VARIANTS(bias_gelu, (const float* restrict x, const float* restrict b, int64_t rows, int c, float* restrict y),
         (x, b, rows, c, y))
VARIANTS(bias_gelu_grad,
         (const float* restrict x, const float* restrict b, const float* restrict dy, int64_t rows, int c,
          float* restrict dx, float* restrict db),
         (x, b, dy, rows, c, dx, db))

static void choose_variants(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    layer_norm = layer_norm_avx2;
    layer_norm_grad = layer_norm_grad_avx2;
    bias_gelu = bias_gelu_avx2;
    bias_gelu_grad = bias_gelu_grad_avx2;
    sigmoid_gate = sigmoid_gate_avx2;
    sigmoid_gate_grad = sigmoid_gate_grad_avx2;
  }
}

/* ---------------------------------------------------------------------------------------------
 * Splitting rows over threads.
 */

/* One part of a call: rows [first, last) of the row-major [rows, c] tensors in `in` and `out`. */
typedef struct Part {
  const float* in[4]; /* [rows, c] tensors and [c] vectors, as each op's run function reads them */
  float* out[2];      /* [rows, c] (and [rows]) outputs */
  float* sums[2];     /* this part's column sums ([c] each), for gradients */
  float eps;
  int64_t first, last;
  int c;
  void (*run)(const struct Part* p);
} Part;

static void* run_part(void* arg) {
  Part* p = arg;
  p->run(p);
  return NULL;
}

/* Elements per thread below which a call is not split: at the nanoGPT preset (768 x 512 for the MLP) one
 * thread measured as fast as two, which TensorFlow keeps busy with other ops. */
#define ROWS_PART_ELEMENTS 1048576

/*
 * Runs base->run over rows [0, rows) in contiguous parts, one per thread; `sums` column sums (base->sums,
 * [c] each, zeroed by the caller) get each part's own zeroed copies, added to base's in part order. 0 when
 * memory ran out.
 */
static int split_rows(const Part* base, int64_t rows, int sums) {
  int64_t elements = rows * base->c;
  int workers = threads_for(elements / ROWS_PART_ELEMENTS);
  Part parts[64];
  int ok = 1;
  for (int i = 0; i < workers; i++) {
    parts[i] = *base;
    parts[i].first = rows * i / workers;
    parts[i].last = rows * (i + 1) / workers;
    for (int j = 0; j < sums; j++) {
      parts[i].sums[j] = i == 0 ? base->sums[j] : calloc((size_t) base->c, sizeof(float));
      ok = ok && parts[i].sums[j] != NULL;
    }
  }
  if (ok) {
    run_all(parts, sizeof(Part), workers, run_part);
    for (int i = 1; i < workers; i++) {
      for (int j = 0; j < sums; j++) {
        for (int k = 0; k < base->c; k++) {
          base->sums[j][k] += parts[i].sums[j][k];
        }
      }
    }
  }
  for (int i = 1; i < workers; i++) {
    for (int j = 0; j < sums; j++) {
      free(parts[i].sums[j]);
    }
  }
  return ok;
}

/* The rows of p as offsets into its tensors. */
#define ROWS(p) ((p)->last - (p)->first)
#define AT(ptr, p) ((ptr) + (p)->first * (p)->c)

static void layer_norm_part(const Part* p) {
  layer_norm(AT(p->in[0], p), p->in[1], p->in[2], p->eps, ROWS(p), p->c, AT(p->out[0], p), p->out[1] + p->first);
}

static void layer_norm_grad_part(const Part* p) {
  layer_norm_grad(AT(p->in[0], p), p->in[1], p->in[2] + p->first, AT(p->in[3], p), ROWS(p), p->c, AT(p->out[0], p),
                  p->sums[0], p->sums[1]);
}

static void bias_gelu_part(const Part* p) {
  bias_gelu(AT(p->in[0], p), p->in[1], ROWS(p), p->c, AT(p->out[0], p));
}

static void bias_gelu_grad_part(const Part* p) {
  bias_gelu_grad(AT(p->in[0], p), p->in[1], AT(p->in[2], p), ROWS(p), p->c, AT(p->out[0], p), p->sums[0]);
}

static void sigmoid_gate_part(const Part* p) {
  sigmoid_gate(AT(p->in[0], p), AT(p->in[1], p), ROWS(p) * p->c, AT(p->out[0], p));
}

static void sigmoid_gate_grad_part(const Part* p) {
  sigmoid_gate_grad(AT(p->in[0], p), AT(p->in[1], p), AT(p->in[2], p), ROWS(p) * p->c, AT(p->out[0], p),
                    AT(p->out[1], p));
}

/* ---------------------------------------------------------------------------------------------
 * Kernels.
 */

/* An op's tensors: inputs, and per output whether it has x's shape ('x'), x's rows ('r') or one row ('c'). */
typedef struct {
  const char* name;
  int inputs;
  const int* rows_inputs; /* inputs of x's shape, besides x */
  int rows_input_count;
  const int* vector_inputs; /* inputs of shape [C] */
  int vector_input_count;
  const int* per_row_inputs; /* inputs of x's shape without its last axis */
  int per_row_input_count;
  int reads[4];        /* the inputs the run function reads, as p->in[0..3] */
  int read_count;
  const char* outputs; /* one letter per output */
  int sums;            /* the last `sums` outputs are column sums */
  void (*run)(const Part* p);
} RowOp;

static void compute_rows(const RowOp* op, TF_OpKernelContext* ctx, float eps) {
  TF_Status* status = tf.NewStatus();
  TF_Tensor* in[7];
  TF_Tensor* out[3] = {NULL, NULL, NULL};
  int outputs = (int) strlen(op->outputs);
  char message[160];
  if (!inputs(ctx, status, in, op->inputs)) {
    goto done;
  }
  int rank = tf.NumDims(in[0]);
  if (rank < 1 || rank > 8) {
    snprintf(message, sizeof message, "%s: x must have 1 to 8 dimensions, the last one the channels", op->name);
    fail(ctx, status, TF_INVALID_ARGUMENT, message);
    goto done;
  }
  int64_t dims[8];
  int64_t rows = 1;
  for (int i = 0; i < rank; i++) {
    dims[i] = tf.Dim(in[0], i);
    rows *= i < rank - 1 ? dims[i] : 1;
  }
  const int64_t c = dims[rank - 1];
  int ok = 1;
  for (int i = 0; i < op->rows_input_count; i++) {
    ok = ok && same_dims(in[op->rows_inputs[i]], dims, rank);
  }
  for (int i = 0; i < op->vector_input_count; i++) {
    TF_Tensor* t = in[op->vector_inputs[i]];
    ok = ok && tf.NumDims(t) == 1 && tf.Dim(t, 0) == c;
  }
  for (int i = 0; i < op->per_row_input_count; i++) {
    ok = ok && same_dims(in[op->per_row_inputs[i]], dims, rank - 1);
  }
  if (!ok) {
    snprintf(message, sizeof message, "%s: inputs must be x [..., C], vectors [C] and gradients of x's shape",
             op->name);
    fail(ctx, status, TF_INVALID_ARGUMENT, message);
    goto done;
  }
  Part base = {.eps = eps, .first = 0, .last = rows, .c = (int) c, .run = op->run};
  for (int i = 0; i < op->read_count; i++) {
    base.in[i] = tf.TensorData(in[op->reads[i]]);
  }
  for (int i = 0; i < outputs; i++) {
    int kind = op->outputs[i];
    int out_rank = kind == 'x' ? rank : kind == 'r' ? rank - 1 : 1;
    int64_t* out_dims = kind == 'c' ? (int64_t[]) {c} : dims;
    size_t bytes = sizeof(float) * (size_t) (kind == 'x' ? rows * c : kind == 'r' ? rows : c);
    out[i] = tf.AllocateOutput(ctx, i, TF_FLOAT, out_dims, out_rank, bytes, status);
    if (tf.GetCode(status) != TF_OK) {
      tf.OpKernelContext_Failure(ctx, status);
      goto done;
    }
    float* data = tf.TensorData(out[i]);
    if (i >= outputs - op->sums) {
      memset(data, 0, bytes);
      base.sums[i - (outputs - op->sums)] = data;
    } else {
      base.out[i] = data;
    }
  }
  if (rows > 0 && c > 0 && !split_rows(&base, rows, op->sums)) {
    snprintf(message, sizeof message, "%s: out of memory", op->name);
    fail(ctx, status, TF_RESOURCE_EXHAUSTED, message);
  }
done:
  release(in, op->inputs);
  release(out, outputs);
  tf.DeleteStatus(status);
}

static const int none[] = {0};
static const int ln_vectors[] = {1, 2};
static const int ln_grad_rows[] = {3, 5};
static const int ln_grad_per_row[] = {4};
static const int gelu_vectors[] = {1};
static const int gelu_grad_rows[] = {2, 3};
static const RowOp LAYER_NORM = {"LeviathanLayerNorm", 3, none, 0, ln_vectors, 2, none, 0, {0, 1, 2}, 3, "xr", 0,
                                 layer_norm_part};
static const RowOp LAYER_NORM_GRAD = {"LeviathanLayerNormGrad", 6, ln_grad_rows, 2, ln_vectors, 2, ln_grad_per_row, 1,
                                      {0, 1, 4, 5}, 4, "xcc", 2, layer_norm_grad_part};
static const RowOp BIAS_GELU = {"LeviathanBiasGelu", 2, none, 0, gelu_vectors, 1, none, 0, {0, 1}, 2, "x", 0,
                                bias_gelu_part};
static const RowOp BIAS_GELU_GRAD = {"LeviathanBiasGeluGrad", 4, gelu_grad_rows, 2, gelu_vectors, 1, none, 0,
                                     {0, 1, 3}, 3, "xc", 1, bias_gelu_grad_part};
static const int gate_rows[] = {1};
static const int gate_grad_rows[] = {1, 2, 3};
static const RowOp SIGMOID_GATE = {"LeviathanSigmoidGate", 2, gate_rows, 1, none, 0, none, 0, {0, 1}, 2, "x", 0,
                                   sigmoid_gate_part};
static const RowOp SIGMOID_GATE_GRAD = {"LeviathanSigmoidGateGrad", 4, gate_grad_rows, 3, none, 0, none, 0,
                                        {0, 1, 3}, 3, "xx", 0, sigmoid_gate_grad_part};

/* LayerNorm's kernel state: its eps attribute. */
static void* layer_norm_create(TF_OpKernelConstruction* ctx) {
  float* eps = malloc(sizeof(float));
  TF_Status* status = tf.NewStatus();
  if (eps != NULL) {
    tf.OpKernelConstruction_GetAttrFloat(ctx, "eps", eps, status);
    if (tf.GetCode(status) != TF_OK) {
      tf.OpKernelConstruction_Failure(ctx, status);
    }
  }
  tf.DeleteStatus(status);
  return eps;
}

static void layer_norm_destroy(void* kernel) {
  free(kernel);
}

static void layer_norm_kernel(void* kernel, TF_OpKernelContext* ctx) {
  if (kernel == NULL) {
    TF_Status* status = tf.NewStatus();
    fail(ctx, status, TF_RESOURCE_EXHAUSTED, "LeviathanLayerNorm: out of memory");
    tf.DeleteStatus(status);
    return;
  }
  compute_rows(&LAYER_NORM, ctx, *(float*) kernel);
}

/* The kernel function of a row op without attributes. */
#define ROW_KERNEL(fn, op)                                 \
  static void fn(void* kernel, TF_OpKernelContext* ctx) { \
    (void) kernel;                                         \
    compute_rows(&op, ctx, 0.f);                           \
  }

ROW_KERNEL(layer_norm_grad_kernel, LAYER_NORM_GRAD)
ROW_KERNEL(bias_gelu_kernel, BIAS_GELU)
ROW_KERNEL(bias_gelu_grad_kernel, BIAS_GELU_GRAD)
ROW_KERNEL(sigmoid_gate_kernel, SIGMOID_GATE)
ROW_KERNEL(sigmoid_gate_grad_kernel, SIGMOID_GATE_GRAD)

/* ---------------------------------------------------------------------------------------------
 * Registration.
 */

/* LayerNorm: y has x's shape, rstd x's without its last axis. */
static void layer_norm_shapes(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeHandle* x = tf.NewShapeHandle();
  TF_ShapeHandle* rows = tf.NewShapeHandle();
  tf.ShapeInferenceContextGetInput(ctx, 0, x, status);
  if (tf.GetCode(status) == TF_OK) {
    tf.ShapeInferenceContextSetOutput(ctx, 0, x, status);
  }
  if (tf.GetCode(status) == TF_OK) {
    tf.ShapeInferenceContextSubshape(ctx, x, 0, -1, rows, status);
  }
  if (tf.GetCode(status) == TF_OK) {
    tf.ShapeInferenceContextSetOutput(ctx, 1, rows, status);
  }
  tf.DeleteShapeHandle(rows);
  tf.DeleteShapeHandle(x);
}

SHAPES(layer_norm_grad_shapes, 0, 1, 2)
SHAPES(bias_gelu_shapes, 0)
SHAPES(bias_gelu_grad_shapes, 0, 1)
SHAPES(sigmoid_gate_grad_shapes, 0, 1)

static const char* const ln_in[] = {"x: float", "gain: float", "bias: float"};
static const char* const ln_out[] = {"y: float", "rstd: float"};
static const char* const ln_attrs[] = {"eps: float = 1e-5"};
static const char* const ln_grad_in[] = {"x: float", "gain: float", "bias: float", "y: float", "rstd: float",
                                         "dy: float"};
static const char* const ln_grad_out[] = {"dx: float", "dgain: float", "dbias: float"};
static const char* const gelu_in[] = {"x: float", "b: float"};
static const char* const gelu_out[] = {"y: float"}; /* and the gate's */
static const char* const gelu_grad_in[] = {"x: float", "b: float", "y: float", "dy: float"};
static const char* const gelu_grad_out[] = {"dx: float", "db: float"};
static const char* const gate_in[] = {"q: float", "r: float"};
static const char* const gate_grad_in[] = {"q: float", "r: float", "y: float", "dy: float"};
static const char* const gate_grad_out[] = {"dq: float", "dr: float"};
static const OpDef OPS[] = {
    {"LeviathanLayerNorm", ln_in, 3, ln_out, 2, layer_norm_shapes, layer_norm_kernel, ln_attrs, 1, layer_norm_create,
     layer_norm_destroy},
    {"LeviathanLayerNormGrad", ln_grad_in, 6, ln_grad_out, 3, layer_norm_grad_shapes, layer_norm_grad_kernel, NULL, 0,
     NULL, NULL},
    {"LeviathanBiasGelu", gelu_in, 2, gelu_out, 1, bias_gelu_shapes, bias_gelu_kernel, NULL, 0, NULL, NULL},
    {"LeviathanBiasGeluGrad", gelu_grad_in, 4, gelu_grad_out, 2, bias_gelu_grad_shapes, bias_gelu_grad_kernel, NULL, 0,
     NULL, NULL},
    {"LeviathanSigmoidGate", gate_in, 2, gelu_out, 1, bias_gelu_shapes, sigmoid_gate_kernel, NULL, 0, NULL, NULL},
    {"LeviathanSigmoidGateGrad", gate_grad_in, 4, gate_grad_out, 2, sigmoid_gate_grad_shapes, sigmoid_gate_grad_kernel,
     NULL, 0, NULL, NULL},
};

__attribute__((constructor)) static void register_kernels(void) {
  if (tf_api("leviathan-core")) {
    choose_variants();
    register_ops("leviathan-core", OPS, (int) (sizeof OPS / sizeof OPS[0]));
  }
}
