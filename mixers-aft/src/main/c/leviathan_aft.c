/*
 * Fused CPU kernels for the AFT sums, registered with TensorFlow through its C kernel and op API
 * (tensorflow/c/kernels.h, tensorflow/c/ops.h) when TensorFlow loads this library
 * (org.tensorflow.TensorFlow.loadLibrary).
 *
 * LeviathanAftMix(k [B,T,C], v [B,T,C], e [N,N], N >= T) -> (y [B,T,C], den [B,T,C]):
 *
 *   m_t   = max_{t' <= t} k_t'                                    (per channel, treated as a constant)
 *   num_t = sum_{t' <= t} e[t,t'] exp(k_t' - m_t) v_t'
 *   den_t = sum_{t' <= t} e[t,t'] exp(k_t' - m_t)
 *   y_t   = num_t / den_t
 *
 * LeviathanAftMixGrad(k, v, e, y, den, dy, dden) -> (dk, dv, de): the gradients of a loss L given
 * dy = dL/dy and dden = dL/dden. With g_t = dy_t / den_t and h_t = dden_t - g_t y_t,
 * a = e[t,t'] exp(k_t' - m_t):
 *
 *   dv_t'     = sum_{t >= t'} a g_t
 *   dk_t'     = sum_{t >= t'} a (g_t v_t' + h_t)
 *   de[t,t']  = sum_{b, c} exp(k_t' - m_t) (g_t v_t' + h_t)
 *
 * Row t reads positions t' <= t only and its arithmetic does not depend on T, so outputs are
 * causal bit for bit. Every exp has an argument <= 0 (k_t' <= m_t), so any finite keys give finite
 * sums. Inputs are expected finite (the library is built with -ffast-math for vectorised exp).
 *
 * The library is not linked against TensorFlow: its functions are looked up in the already loaded
 * libtensorflow_framework.so.2 (dlopen with RTLD_NOLOAD), so it builds with a C compiler alone.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parts of TensorFlow's C API this library uses (opaque types and the signatures of
 * tensorflow/c/c_api.h, tf_tensor.h, tf_status.h, kernels.h and ops.h). */
typedef struct TF_Status TF_Status;
typedef struct TF_Tensor TF_Tensor;
typedef struct TF_OpKernelContext TF_OpKernelContext;
typedef struct TF_OpKernelConstruction TF_OpKernelConstruction;
typedef struct TF_KernelBuilder TF_KernelBuilder;
typedef struct TF_OpDefinitionBuilder TF_OpDefinitionBuilder;
typedef struct TF_ShapeInferenceContext TF_ShapeInferenceContext;
typedef struct TF_ShapeHandle TF_ShapeHandle;
enum { TF_OK = 0, TF_INVALID_ARGUMENT = 3, TF_RESOURCE_EXHAUSTED = 8, TF_FLOAT = 1 };

static struct {
  TF_Status* (*NewStatus)(void);
  void (*DeleteStatus)(TF_Status*);
  int (*GetCode)(const TF_Status*);
  void (*SetStatus)(TF_Status*, int, const char*);
  TF_OpDefinitionBuilder* (*NewOpDefinitionBuilder)(const char*);
  void (*OpDefinitionBuilderAddInput)(TF_OpDefinitionBuilder*, const char*);
  void (*OpDefinitionBuilderAddOutput)(TF_OpDefinitionBuilder*, const char*);
  void (*OpDefinitionBuilderSetShapeInferenceFunction)(TF_OpDefinitionBuilder*,
                                                       void (*)(TF_ShapeInferenceContext*, TF_Status*));
  void (*RegisterOpDefinition)(TF_OpDefinitionBuilder*, TF_Status*);
  TF_ShapeHandle* (*NewShapeHandle)(void);
  void (*DeleteShapeHandle)(TF_ShapeHandle*);
  void (*ShapeInferenceContextGetInput)(TF_ShapeInferenceContext*, int, TF_ShapeHandle*, TF_Status*);
  void (*ShapeInferenceContextSetOutput)(TF_ShapeInferenceContext*, int, TF_ShapeHandle*, TF_Status*);
  TF_KernelBuilder* (*NewKernelBuilder)(const char*, const char*, void* (*)(TF_OpKernelConstruction*),
                                        void (*)(void*, TF_OpKernelContext*), void (*)(void*));
  void (*RegisterKernelBuilder)(const char*, TF_KernelBuilder*, TF_Status*);
  void (*GetInput)(TF_OpKernelContext*, int, TF_Tensor**, TF_Status*);
  TF_Tensor* (*AllocateOutput)(TF_OpKernelContext*, int, int, const int64_t*, int, size_t, TF_Status*);
  void (*OpKernelContext_Failure)(TF_OpKernelContext*, TF_Status*);
  int (*NumDims)(const TF_Tensor*);
  int64_t (*Dim)(const TF_Tensor*, int);
  void* (*TensorData)(const TF_Tensor*);
  void (*DeleteTensor)(TF_Tensor*);
} tf;

/* ---------------------------------------------------------------------------------------------
 * Arithmetic, one sequence (batch entry) at a time. Channels are the innermost, vectorised loop.
 */

static void running_max(const float* k, int t_len, int c_len, float* m) {
  memcpy(m, k, sizeof(float) * (size_t) c_len);
  for (int t = 1; t < t_len; t++) {
    const float* prev = m + (size_t) (t - 1) * c_len;
    const float* kt = k + (size_t) t * c_len;
    float* mt = m + (size_t) t * c_len;
    for (int c = 0; c < c_len; c++) {
      mt[c] = kt[c] > prev[c] ? kt[c] : prev[c];
    }
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
static void mix_sequence(const float* restrict k, const float* restrict v, const float* restrict e, int t_len,
                         int n, int c_len, float* restrict y, float* restrict den, float* restrict m,
                         float* restrict num) {
  running_max(k, t_len, c_len, m);
  for (int t = 0; t < t_len; t++) {
    const float* mt = m + (size_t) t * c_len;
    const float* et = e + (size_t) t * n;
    float* dt = den + (size_t) t * c_len;
    memset(num, 0, sizeof(float) * (size_t) c_len);
    memset(dt, 0, sizeof(float) * (size_t) c_len);
    for (int u = 0; u <= t; u++) {
      const float w = et[u];
      const float* ku = k + (size_t) u * c_len;
      const float* vu = v + (size_t) u * c_len;
      for (int c = 0; c < c_len; c++) {
        const float a = w * expf(ku[c] - mt[c]);
        num[c] += a * vu[c];
        dt[c] += a;
      }
    }
    float* yt = y + (size_t) t * c_len;
    for (int c = 0; c < c_len; c++) {
      yt[c] = num[c] / dt[c];
    }
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
static void mix_sequence_grad(const float* restrict k, const float* restrict v, const float* restrict e,
                              const float* restrict y, const float* restrict den, const float* restrict dy,
                              const float* restrict dden, int t_len, int n, int c_len, float* restrict dk,
                              float* restrict dv, float* restrict de, float* restrict m, float* restrict g,
                              float* restrict h) {
  running_max(k, t_len, c_len, m);
  size_t size = (size_t) t_len * c_len;
  for (size_t i = 0; i < size; i++) {
    g[i] = dy[i] / den[i];
    h[i] = dden[i] - g[i] * y[i];
  }
  for (int t = 0; t < t_len; t++) {
    const float* mt = m + (size_t) t * c_len;
    const float* gt = g + (size_t) t * c_len;
    const float* ht = h + (size_t) t * c_len;
    const float* et = e + (size_t) t * n;
    float* det = de + (size_t) t * n;
    for (int u = 0; u <= t; u++) {
      const float w = et[u];
      const float* ku = k + (size_t) u * c_len;
      const float* vu = v + (size_t) u * c_len;
      float* dku = dk + (size_t) u * c_len;
      float* dvu = dv + (size_t) u * c_len;
      float acc = 0.f;
      for (int c = 0; c < c_len; c++) {
        const float p = expf(ku[c] - mt[c]);
        const float q = gt[c] * vu[c] + ht[c];
        const float a = w * p;
        dvu[c] += a * gt[c];
        dku[c] += a * q;
        acc += p * q;
      }
      det[u] += acc;
    }
  }
}

/* ---------------------------------------------------------------------------------------------
 * Kernels.
 */

static void fail(TF_OpKernelContext* ctx, TF_Status* status, int code, const char* message) {
  tf.SetStatus(status, code, message);
  tf.OpKernelContext_Failure(ctx, status);
}

/* Inputs 0..count-1 (released by the caller with release()). 0 when an input is missing. */
static int inputs(TF_OpKernelContext* ctx, TF_Status* status, TF_Tensor** out, int count) {
  for (int i = 0; i < count; i++) {
    out[i] = NULL;
  }
  for (int i = 0; i < count; i++) {
    tf.GetInput(ctx, i, &out[i], status);
    if (tf.GetCode(status) != TF_OK) {
      tf.OpKernelContext_Failure(ctx, status);
      return 0;
    }
  }
  return 1;
}

static void release(TF_Tensor** tensors, int count) {
  for (int i = 0; i < count; i++) {
    if (tensors[i] != NULL) {
      tf.DeleteTensor(tensors[i]);
    }
  }
}

/* Checks k [B,T,C], v and any further [B,T,C] inputs, e [N,N] with N >= T. */
static int shapes(TF_OpKernelContext* ctx, TF_Status* status, TF_Tensor** in, const int* sequences, int count,
                  int weights, int64_t* b, int64_t* t, int64_t* c, int64_t* n) {
  TF_Tensor* k = in[0];
  if (tf.NumDims(k) != 3) {
    fail(ctx, status, TF_INVALID_ARGUMENT, "LeviathanAftMix: keys must be [batch, time, channels]");
    return 0;
  }
  *b = tf.Dim(k, 0);
  *t = tf.Dim(k, 1);
  *c = tf.Dim(k, 2);
  for (int i = 0; i < count; i++) {
    TF_Tensor* x = in[sequences[i]];
    if (tf.NumDims(x) != 3 || tf.Dim(x, 0) != *b || tf.Dim(x, 1) != *t || tf.Dim(x, 2) != *c) {
      fail(ctx, status, TF_INVALID_ARGUMENT, "LeviathanAftMix: every sequence input must have the keys' shape");
      return 0;
    }
  }
  TF_Tensor* e = in[weights];
  if (tf.NumDims(e) != 2 || tf.Dim(e, 0) != tf.Dim(e, 1) || tf.Dim(e, 0) < *t) {
    fail(ctx, status, TF_INVALID_ARGUMENT, "LeviathanAftMix: weights must be [N, N] with N >= time");
    return 0;
  }
  *n = tf.Dim(e, 0);
  return 1;
}

static void mix_compute(void* kernel, TF_OpKernelContext* ctx) {
  (void) kernel;
  TF_Status* status = tf.NewStatus();
  TF_Tensor* in[3];
  TF_Tensor* out[2] = {NULL, NULL};
  float* scratch = NULL;
  int64_t b, t, c, n;
  static const int sequences[] = {1};
  if (!inputs(ctx, status, in, 3) || !shapes(ctx, status, in, sequences, 1, 2, &b, &t, &c, &n)) {
    goto done;
  }
  int64_t dims[3] = {b, t, c};
  size_t bytes = sizeof(float) * (size_t) (b * t * c);
  for (int i = 0; i < 2; i++) {
    out[i] = tf.AllocateOutput(ctx, i, TF_FLOAT, dims, 3, bytes, status);
    if (tf.GetCode(status) != TF_OK) {
      tf.OpKernelContext_Failure(ctx, status);
      goto done;
    }
  }
  scratch = malloc(sizeof(float) * (size_t) ((t + 1) * c));
  if (scratch == NULL) {
    fail(ctx, status, TF_RESOURCE_EXHAUSTED, "LeviathanAftMix: out of memory");
    goto done;
  }
  const float* k = tf.TensorData(in[0]);
  const float* v = tf.TensorData(in[1]);
  const float* e = tf.TensorData(in[2]);
  float* y = tf.TensorData(out[0]);
  float* den = tf.TensorData(out[1]);
  size_t step = (size_t) (t * c);
  for (int64_t i = 0; i < b; i++) {
    mix_sequence(k + i * step, v + i * step, e, (int) t, (int) n, (int) c, y + i * step, den + i * step, scratch,
                 scratch + (size_t) (t * c));
  }
done:
  free(scratch);
  release(in, 3);
  release(out, 2);
  tf.DeleteStatus(status);
}

static void mix_grad_compute(void* kernel, TF_OpKernelContext* ctx) {
  (void) kernel;
  TF_Status* status = tf.NewStatus();
  TF_Tensor* in[7];
  TF_Tensor* out[3] = {NULL, NULL, NULL};
  float* scratch = NULL;
  int64_t b, t, c, n;
  static const int sequences[] = {1, 3, 4, 5, 6};
  if (!inputs(ctx, status, in, 7) || !shapes(ctx, status, in, sequences, 5, 2, &b, &t, &c, &n)) {
    goto done;
  }
  int64_t dims[3] = {b, t, c};
  int64_t weight_dims[2] = {n, n};
  size_t bytes = sizeof(float) * (size_t) (b * t * c);
  for (int i = 0; i < 3; i++) {
    out[i] = i < 2 ? tf.AllocateOutput(ctx, i, TF_FLOAT, dims, 3, bytes, status)
                   : tf.AllocateOutput(ctx, i, TF_FLOAT, weight_dims, 2, sizeof(float) * (size_t) (n * n), status);
    if (tf.GetCode(status) != TF_OK) {
      tf.OpKernelContext_Failure(ctx, status);
      goto done;
    }
  }
  scratch = malloc(sizeof(float) * (size_t) (3 * t * c));
  if (scratch == NULL) {
    fail(ctx, status, TF_RESOURCE_EXHAUSTED, "LeviathanAftMixGrad: out of memory");
    goto done;
  }
  float* dk = tf.TensorData(out[0]);
  float* dv = tf.TensorData(out[1]);
  float* de = tf.TensorData(out[2]);
  memset(dk, 0, bytes);
  memset(dv, 0, bytes);
  memset(de, 0, sizeof(float) * (size_t) (n * n));
  const float* x[7];
  for (int i = 0; i < 7; i++) {
    x[i] = tf.TensorData(in[i]);
  }
  size_t step = (size_t) (t * c);
  for (int64_t i = 0; i < b; i++) {
    size_t o = i * step;
    mix_sequence_grad(x[0] + o, x[1] + o, x[2], x[3] + o, x[4] + o, x[5] + o, x[6] + o, (int) t, (int) n, (int) c,
                      dk + o, dv + o, de, scratch, scratch + step, scratch + 2 * step);
  }
done:
  free(scratch);
  release(in, 7);
  release(out, 3);
  tf.DeleteStatus(status);
}

/* ---------------------------------------------------------------------------------------------
 * Registration.
 */

/* Output i has the shape of input i, for each of the first `count` outputs. */
static void same_shapes(TF_ShapeInferenceContext* ctx, TF_Status* status, const int* from, int count) {
  TF_ShapeHandle* shape = tf.NewShapeHandle();
  for (int i = 0; i < count && tf.GetCode(status) == TF_OK; i++) {
    tf.ShapeInferenceContextGetInput(ctx, from[i], shape, status);
    if (tf.GetCode(status) == TF_OK) {
      tf.ShapeInferenceContextSetOutput(ctx, i, shape, status);
    }
  }
  tf.DeleteShapeHandle(shape);
}

static void mix_shapes(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  static const int from[] = {0, 0};
  same_shapes(ctx, status, from, 2);
}

static void mix_grad_shapes(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  static const int from[] = {0, 1, 2};
  same_shapes(ctx, status, from, 3);
}

static int lookup(void* library) {
#define LOOKUP(field, symbol)                                  \
  if ((*(void**) &tf.field = dlsym(library, symbol)) == NULL) { \
    fprintf(stderr, "leviathan-aft: TensorFlow has no %s\n", symbol); \
    return 0;                                                  \
  }
  LOOKUP(NewStatus, "TF_NewStatus")
  LOOKUP(DeleteStatus, "TF_DeleteStatus")
  LOOKUP(GetCode, "TF_GetCode")
  LOOKUP(SetStatus, "TF_SetStatus")
  LOOKUP(NewOpDefinitionBuilder, "TF_NewOpDefinitionBuilder")
  LOOKUP(OpDefinitionBuilderAddInput, "TF_OpDefinitionBuilderAddInput")
  LOOKUP(OpDefinitionBuilderAddOutput, "TF_OpDefinitionBuilderAddOutput")
  LOOKUP(OpDefinitionBuilderSetShapeInferenceFunction, "TF_OpDefinitionBuilderSetShapeInferenceFunction")
  LOOKUP(RegisterOpDefinition, "TF_RegisterOpDefinition")
  LOOKUP(NewShapeHandle, "TF_NewShapeHandle")
  LOOKUP(DeleteShapeHandle, "TF_DeleteShapeHandle")
  LOOKUP(ShapeInferenceContextGetInput, "TF_ShapeInferenceContextGetInput")
  LOOKUP(ShapeInferenceContextSetOutput, "TF_ShapeInferenceContextSetOutput")
  LOOKUP(NewKernelBuilder, "TF_NewKernelBuilder")
  LOOKUP(RegisterKernelBuilder, "TF_RegisterKernelBuilder")
  LOOKUP(GetInput, "TF_GetInput")
  LOOKUP(AllocateOutput, "TF_AllocateOutput")
  LOOKUP(OpKernelContext_Failure, "TF_OpKernelContext_Failure")
  LOOKUP(NumDims, "TF_NumDims")
  LOOKUP(Dim, "TF_Dim")
  LOOKUP(TensorData, "TF_TensorData")
  LOOKUP(DeleteTensor, "TF_DeleteTensor")
#undef LOOKUP
  return 1;
}

static void define(const char* name, const char* const* in, int inputs, const char* const* out, int outputs,
                   void (*shape_fn)(TF_ShapeInferenceContext*, TF_Status*), void (*compute)(void*, TF_OpKernelContext*),
                   TF_Status* status) {
  TF_OpDefinitionBuilder* op = tf.NewOpDefinitionBuilder(name);
  for (int i = 0; i < inputs; i++) {
    tf.OpDefinitionBuilderAddInput(op, in[i]);
  }
  for (int i = 0; i < outputs; i++) {
    tf.OpDefinitionBuilderAddOutput(op, out[i]);
  }
  tf.OpDefinitionBuilderSetShapeInferenceFunction(op, shape_fn);
  tf.RegisterOpDefinition(op, status);
  if (tf.GetCode(status) != TF_OK) {
    return;
  }
  tf.RegisterKernelBuilder(name, tf.NewKernelBuilder(name, "CPU", NULL, compute, NULL), status);
}

__attribute__((constructor)) static void register_kernels(void) {
  void* library = dlopen("libtensorflow_framework.so.2", RTLD_NOW | RTLD_NOLOAD);
  if (library == NULL) {
    fprintf(stderr, "leviathan-aft: load this library through TensorFlow (libtensorflow_framework.so.2 is not loaded)\n");
    return;
  }
  if (!lookup(library)) {
    return;
  }
  TF_Status* status = tf.NewStatus();
  static const char* const mix_in[] = {"k: float", "v: float", "e: float"};
  static const char* const mix_out[] = {"y: float", "den: float"};
  define("LeviathanAftMix", mix_in, 3, mix_out, 2, mix_shapes, mix_compute, status);
  static const char* const grad_in[] = {"k: float", "v: float", "e: float", "y: float", "den: float", "dy: float",
                                        "dden: float"};
  static const char* const grad_out[] = {"dk: float", "dv: float", "de: float"};
  if (tf.GetCode(status) == TF_OK) {
    define("LeviathanAftMixGrad", grad_in, 7, grad_out, 3, mix_grad_shapes, mix_grad_compute, status);
  }
  if (tf.GetCode(status) != TF_OK) {
    fprintf(stderr, "leviathan-aft: registering the AFT kernels failed\n");
  }
  tf.DeleteStatus(status);
}
