/*
 * What Leviathan's fused CPU kernels share (included by each module's library, e.g. mixers-aft's
 * leviathan_aft.c): TensorFlow's C kernel and op API, looked up at load time; checking inputs and
 * allocating outputs; splitting a batch over threads; registering ops and kernels.
 *
 * A library is not linked against TensorFlow: its constructor calls tf_api(), which finds the functions in
 * the already loaded libtensorflow_framework.so.2 (dlopen with RTLD_NOLOAD), so it builds with a C compiler
 * alone; TensorFlow loads it (org.tensorflow.TensorFlow.loadLibrary) and the constructor registers its ops.
 */
#ifndef LEVIATHAN_KERNELS_H
#define LEVIATHAN_KERNELS_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
  void (*OpDefinitionBuilderAddAttr)(TF_OpDefinitionBuilder*, const char*);
  void (*OpDefinitionBuilderSetShapeInferenceFunction)(TF_OpDefinitionBuilder*,
                                                       void (*)(TF_ShapeInferenceContext*, TF_Status*));
  void (*RegisterOpDefinition)(TF_OpDefinitionBuilder*, TF_Status*);
  TF_ShapeHandle* (*NewShapeHandle)(void);
  void (*DeleteShapeHandle)(TF_ShapeHandle*);
  void (*ShapeInferenceContextGetInput)(TF_ShapeInferenceContext*, int, TF_ShapeHandle*, TF_Status*);
  void (*ShapeInferenceContextSetOutput)(TF_ShapeInferenceContext*, int, TF_ShapeHandle*, TF_Status*);
  void (*ShapeInferenceContextSubshape)(TF_ShapeInferenceContext*, TF_ShapeHandle*, int64_t, int64_t, TF_ShapeHandle*,
                                        TF_Status*);
  void (*ShapeInferenceContextWithRank)(TF_ShapeInferenceContext*, TF_ShapeHandle*, int64_t, TF_ShapeHandle*,
                                        TF_Status*);
  void (*ShapeInferenceContextConcatenateShapes)(TF_ShapeInferenceContext*, TF_ShapeHandle*, TF_ShapeHandle*,
                                                 TF_ShapeHandle*, TF_Status*);
  TF_KernelBuilder* (*NewKernelBuilder)(const char*, const char*, void* (*)(TF_OpKernelConstruction*),
                                        void (*)(void*, TF_OpKernelContext*), void (*)(void*));
  void (*RegisterKernelBuilder)(const char*, TF_KernelBuilder*, TF_Status*);
  void (*GetInput)(TF_OpKernelContext*, int, TF_Tensor**, TF_Status*);
  TF_Tensor* (*AllocateOutput)(TF_OpKernelContext*, int, int, const int64_t*, int, size_t, TF_Status*);
  void (*OpKernelContext_Failure)(TF_OpKernelContext*, TF_Status*);
  void (*OpKernelConstruction_GetAttrFloat)(TF_OpKernelConstruction*, const char*, float*, TF_Status*);
  void (*OpKernelConstruction_Failure)(TF_OpKernelConstruction*, TF_Status*);
  int (*NumDims)(const TF_Tensor*);
  int64_t (*Dim)(const TF_Tensor*, int);
  void* (*TensorData)(const TF_Tensor*);
  void (*DeleteTensor)(TF_Tensor*);
} tf;

/*
 * The arithmetic is written once (the *_body functions, always inlined) and compiled twice: for AVX2 with
 * FMA, whose vector exp glibc's libmvec provides, and for any x86-64; each library's choose_variants() picks
 * one by the CPU at load.
 * (AVX-512 variants measured slower at these sizes.)
 */
#define VARIANTS(name, params, args)                                           \
  __attribute__((target("avx2,fma"))) static void name##_avx2 params { name##_body args; } \
  static void name##_generic params { name##_body args; }                      \
  static void(*name) params = name##_generic;

/* The arithmetic bodies, inlined into each variant. */
#define INLINE static inline __attribute__((always_inline))

/*
 * 8-float vectors (GCC's vector extension) for loops that keep sums in registers; AVX in the AVX2 variant,
 * pairs of SSE registers in the generic one. Macros rather than functions: GCC notes an ABI change for such
 * vectors passed without AVX.
 */
typedef float v8 __attribute__((vector_size(32)));
#define LOAD8(p) ({ v8 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define STORE8(p, v) do { v8 s_ = (v); memcpy((p), &s_, sizeof s_); } while (0)
#define SPLAT8(x) ({ const float x_ = (x); (v8) {x_, x_, x_, x_, x_, x_, x_, x_}; })


/*
 * The sigmoid gate y = sigmoid(q) r and its gradient (core's LeviathanSigmoidGate, the AFT mixers' gated sums).
 * sigmoid(q) without overflow: exp of -|q| only.
 */
INLINE float sigmoid(float q) {
  const float e = expf(-fabsf(q));
  return q >= 0.f ? 1.f / (1.f + e) : e / (1.f + e);
}

INLINE void sigmoid_gate_body(const float* restrict q, const float* restrict r, int64_t n, float* restrict y) {
  for (int64_t i = 0; i < n; i++) {
    y[i] = sigmoid(q[i]) * r[i];
  }
}

/* sigmoid(q) (1 - sigmoid(q)) = e / (1 + e)^2 with e = exp(-|q|): no cancellation in 1 - sigmoid(q) */
INLINE void sigmoid_gate_grad_body(const float* restrict q, const float* restrict r, const float* restrict dy,
                                   int64_t n, float* restrict dq, float* restrict dr) {
  for (int64_t i = 0; i < n; i++) {
    const float e = expf(-fabsf(q[i]));
    const float inv = 1.f / (1.f + e);
    const float s = q[i] >= 0.f ? inv : e * inv;
    dr[i] = dy[i] * s;
    dq[i] = dy[i] * r[i] * (e * inv * inv);
  }
}

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

/* 1 when x has rank `rank` and the dimensions `dims`. */
static int same_dims(const TF_Tensor* x, const int64_t* dims, int rank) {
  if (tf.NumDims(x) != rank) {
    return 0;
  }
  for (int i = 0; i < rank; i++) {
    if (tf.Dim(x, i) != dims[i]) {
      return 0;
    }
  }
  return 1;
}

/*
 * Checks k [B,T,C] (or, `packed`, q, k and v together as [B,T,3,C]), v and any further [B,T,C] inputs, e [N,N]
 * with N >= T (input `weights`, none if < 0).
 */
static int shapes(const char* name, TF_OpKernelContext* ctx, TF_Status* status, TF_Tensor** in, int packed,
                  const int* sequences, int count, int weights, int64_t* b, int64_t* t, int64_t* c, int64_t* n) {
  char message[160];
  TF_Tensor* k = in[0];
  if (packed ? tf.NumDims(k) != 4 || tf.Dim(k, 2) != 3 : tf.NumDims(k) != 3) {
    snprintf(message, sizeof message, packed ? "%s: qkv must be [batch, time, 3, channels]"
                                             : "%s: keys must be [batch, time, channels]", name);
    fail(ctx, status, TF_INVALID_ARGUMENT, message);
    return 0;
  }
  *b = tf.Dim(k, 0);
  *t = tf.Dim(k, 1);
  *c = tf.Dim(k, packed ? 3 : 2);
  const int64_t dims[3] = {*b, *t, *c};
  for (int i = 0; i < count; i++) {
    if (!same_dims(in[sequences[i]], dims, 3)) {
      snprintf(message, sizeof message, "%s: every sequence input must have the keys' shape", name);
      fail(ctx, status, TF_INVALID_ARGUMENT, message);
      return 0;
    }
  }
  if (weights < 0) {
    *n = 0;
    return 1;
  }
  TF_Tensor* e = in[weights];
  if (tf.NumDims(e) != 2 || tf.Dim(e, 0) != tf.Dim(e, 1) || tf.Dim(e, 0) < *t) {
    snprintf(message, sizeof message, "%s: weights must be [N, N] with N >= time", name);
    fail(ctx, status, TF_INVALID_ARGUMENT, message);
    return 0;
  }
  *n = tf.Dim(e, 0);
  return 1;
}

/* One call's work: the sequences [first, last) of a batch, split over threads. */
typedef struct Work {
  const float* in[7];
  float* out[3];
  int64_t t, n, c;
  int64_t first, last;
  float* scratch;     /* per worker */
  float* weights_out; /* per worker: its share of de (the gradient only) */
  /* one sequence: the one whose [T, C] slices start at float `offset` of every [B, T, C] tensor (and whose
   * [T, 3, C] slices start at 3 `offset` of a [B, T, 3, C] one) */
  void (*sequence)(const struct Work* w, size_t offset);
} Work;

/* A part's work: its sequences, one after the other. */
static void* each_sequence(void* arg) {
  Work* w = arg;
  size_t step = (size_t) (w->t * w->c);
  for (int64_t i = w->first; i < w->last; i++) {
    w->sequence(w, (size_t) i * step);
  }
  return NULL;
}

/* Threads for a batch of b sequences: one per core (or LEVIATHAN_KERNEL_THREADS), at most one per sequence. */
static int threads_for(int64_t b) {
  const char* setting = getenv("LEVIATHAN_KERNEL_THREADS");
  long cores = setting != NULL && atol(setting) > 0 ? atol(setting) : sysconf(_SC_NPROCESSORS_ONLN);
  int n = cores < 1 ? 1 : cores > 64 ? 64 : (int) cores;
  return b < n ? (int) (b < 1 ? 1 : b) : n;
}

/*
 * Runs fn on each of `count` parts (an array of `size`-byte structs), part 0 in the calling thread and the
 * others in threads of their own (in the calling thread too where a thread cannot be started).
 */
static void run_all(void* parts, size_t size, int count, void* (*fn)(void*)) {
  pthread_t ids[64];
  int started[64] = {0};
  for (int i = 1; i < count; i++) {
    started[i] = pthread_create(&ids[i], NULL, fn, (char*) parts + i * size) == 0;
  }
  fn(parts);
  for (int i = 1; i < count; i++) {
    if (started[i]) {
      pthread_join(ids[i], NULL);
    } else {
      fn((char*) parts + i * size);
    }
  }
}

/*
 * Runs base->sequence over the batch in contiguous parts, one per thread (at most max_workers; part 0 in the
 * calling thread), each with `scratch_floats` of scratch and, when `weights` > 0, its own zeroed weight
 * gradient of that many floats (part 0's is base->weights_out, zeroed by the caller); the parts' weight gradients
 * are summed into it in part order. 0 when memory ran out.
 */
static int run_parts(Work* base, int64_t b, size_t scratch_floats, size_t weights, int max_workers) {
  int workers = threads_for(b);
  workers = workers > max_workers ? max_workers : workers;
  Work parts[64];
  int ok = 1;
  for (int i = 0; i < workers; i++) {
    parts[i] = *base;
    parts[i].first = b * i / workers;
    parts[i].last = b * (i + 1) / workers;
    parts[i].scratch = malloc(sizeof(float) * scratch_floats);
    parts[i].weights_out = weights == 0 ? NULL : i == 0 ? base->weights_out : calloc(weights, sizeof(float));
    if (parts[i].scratch == NULL || (weights > 0 && parts[i].weights_out == NULL)) {
      ok = 0;
    }
  }
  if (ok) {
    run_all(parts, sizeof(Work), workers, each_sequence);
    for (int i = 1; i < workers && weights > 0; i++) {
      for (size_t j = 0; j < weights; j++) {
        base->weights_out[j] += parts[i].weights_out[j];
      }
    }
  }
  for (int i = 0; i < workers; i++) {
    free(parts[i].scratch);
    if (i > 0 && weights > 0) {
      free(parts[i].weights_out);
    }
  }
  return ok;
}

/*
 * What an op reads and writes, and how its work is split. Its `sequence` function writes every element of
 * the [B,T,C] outputs of its sequence; the weights' gradient (if any) starts at zero.
 */
typedef struct {
  const char* name;
  int inputs;                  /* all float; input 0 is the keys [B,T,C] */
  const int* sequences;        /* further inputs of the keys' shape */
  int sequence_count;
  int weights;                 /* the input e [N,N], or -1 */
  int outputs;                 /* [B,T,C] each, but for a last [N,N] output when weights_out */
  int weights_out;             /* the last output is the weights' gradient, summed over the parts */
  void (*sequence)(const struct Work* w, size_t offset);
  size_t scratch_rows;         /* scratch per part: scratch_rows * T + extra_rows rows of C floats */
  size_t extra_rows;
  int max_workers;
  int packed_in;               /* input 0 is q, k and v together, [B,T,3,C] (its sequences start at 3 `offset`) */
  int packed_out;              /* output 0 is [B,T,3,C] */
} Spec;

__attribute__((unused)) static void compute(const Spec* spec, TF_OpKernelContext* ctx) {
  TF_Status* status = tf.NewStatus();
  TF_Tensor* in[7];
  TF_Tensor* out[3] = {NULL, NULL, NULL};
  int64_t b, t, c, n;
  if (!inputs(ctx, status, in, spec->inputs)
      || !shapes(spec->name, ctx, status, in, spec->packed_in, spec->sequences, spec->sequence_count, spec->weights,
                 &b, &t, &c, &n)) {
    goto done;
  }
  int64_t dims[3] = {b, t, c};
  int64_t packed_dims[4] = {b, t, 3, c};
  int64_t weight_dims[2] = {n, n};
  Work work = {.t = t, .n = n, .c = c, .sequence = spec->sequence};
  for (int i = 0; i < spec->outputs; i++) {
    int weights = spec->weights_out && i == spec->outputs - 1;
    int packed = spec->packed_out && i == 0;
    size_t bytes = sizeof(float) * (size_t) (weights ? n * n : packed ? 3 * b * t * c : b * t * c);
    out[i] = tf.AllocateOutput(ctx, i, TF_FLOAT, weights ? weight_dims : packed ? packed_dims : dims,
                               weights ? 2 : packed ? 4 : 3, bytes, status);
    if (tf.GetCode(status) != TF_OK) {
      tf.OpKernelContext_Failure(ctx, status);
      goto done;
    }
    work.out[i] = tf.TensorData(out[i]);
    if (weights) {
      memset(work.out[i], 0, bytes); /* summed into by every sequence */
      work.weights_out = work.out[i];
    }
  }
  for (int i = 0; i < spec->inputs; i++) {
    work.in[i] = tf.TensorData(in[i]);
  }
  size_t scratch = (spec->scratch_rows * (size_t) t + spec->extra_rows) * (size_t) c;
  size_t weights = spec->weights_out ? (size_t) (n * n) : 0;
  if (t > 0 && !run_parts(&work, b, scratch, weights, spec->max_workers)) {
    char message[128];
    snprintf(message, sizeof message, "%s: out of memory", spec->name);
    fail(ctx, status, TF_RESOURCE_EXHAUSTED, message);
  }
done:
  release(in, spec->inputs);
  release(out, spec->outputs);
  tf.DeleteStatus(status);
}

/* ---------------------------------------------------------------------------------------------
 * Registration.
 */

/* Output i has the shape of input from[i], for each of the first `count` outputs. */
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

/*
 * out := input 0's first two dimensions (batch, time) followed by its dimensions [from, to), input 0 being of
 * rank `rank`: the shape of an output per position, e.g. [B, T, H, D] of qkv [B, T, 3, H, D].
 */
__attribute__((unused)) static void rows_shape(TF_ShapeInferenceContext* ctx, TF_Status* status, int64_t rank,
                                               int64_t from, int64_t to, TF_ShapeHandle* out) {
  TF_ShapeHandle* in = tf.NewShapeHandle();
  TF_ShapeHandle* bt = tf.NewShapeHandle();
  TF_ShapeHandle* tail = tf.NewShapeHandle();
  tf.ShapeInferenceContextGetInput(ctx, 0, in, status);
  if (tf.GetCode(status) == TF_OK) {
    tf.ShapeInferenceContextWithRank(ctx, in, rank, in, status);
  }
  if (tf.GetCode(status) == TF_OK) {
    tf.ShapeInferenceContextSubshape(ctx, in, 0, 2, bt, status);
  }
  if (tf.GetCode(status) == TF_OK) {
    tf.ShapeInferenceContextSubshape(ctx, in, from, to, tail, status);
  }
  if (tf.GetCode(status) == TF_OK) {
    tf.ShapeInferenceContextConcatenateShapes(ctx, bt, tail, out, status);
  }
  tf.DeleteShapeHandle(in);
  tf.DeleteShapeHandle(bt);
  tf.DeleteShapeHandle(tail);
}

static int lookup(void* library) {
#define LOOKUP(field, symbol)                                  \
  if ((*(void**) &tf.field = dlsym(library, symbol)) == NULL) { \
    fprintf(stderr, "leviathan: TensorFlow has no %s\n", symbol); \
    return 0;                                                  \
  }
  LOOKUP(NewStatus, "TF_NewStatus")
  LOOKUP(DeleteStatus, "TF_DeleteStatus")
  LOOKUP(GetCode, "TF_GetCode")
  LOOKUP(SetStatus, "TF_SetStatus")
  LOOKUP(NewOpDefinitionBuilder, "TF_NewOpDefinitionBuilder")
  LOOKUP(OpDefinitionBuilderAddInput, "TF_OpDefinitionBuilderAddInput")
  LOOKUP(OpDefinitionBuilderAddOutput, "TF_OpDefinitionBuilderAddOutput")
  LOOKUP(OpDefinitionBuilderAddAttr, "TF_OpDefinitionBuilderAddAttr")
  LOOKUP(OpDefinitionBuilderSetShapeInferenceFunction, "TF_OpDefinitionBuilderSetShapeInferenceFunction")
  LOOKUP(RegisterOpDefinition, "TF_RegisterOpDefinition")
  LOOKUP(NewShapeHandle, "TF_NewShapeHandle")
  LOOKUP(DeleteShapeHandle, "TF_DeleteShapeHandle")
  LOOKUP(ShapeInferenceContextGetInput, "TF_ShapeInferenceContextGetInput")
  LOOKUP(ShapeInferenceContextSetOutput, "TF_ShapeInferenceContextSetOutput")
  LOOKUP(ShapeInferenceContextSubshape, "TF_ShapeInferenceContextSubshape")
  LOOKUP(ShapeInferenceContextWithRank, "TF_ShapeInferenceContextWithRank")
  LOOKUP(ShapeInferenceContextConcatenateShapes, "TF_ShapeInferenceContextConcatenateShapes")
  LOOKUP(NewKernelBuilder, "TF_NewKernelBuilder")
  LOOKUP(RegisterKernelBuilder, "TF_RegisterKernelBuilder")
  LOOKUP(GetInput, "TF_GetInput")
  LOOKUP(AllocateOutput, "TF_AllocateOutput")
  LOOKUP(OpKernelContext_Failure, "TF_OpKernelContext_Failure")
  LOOKUP(OpKernelConstruction_GetAttrFloat, "TF_OpKernelConstruction_GetAttrFloat")
  LOOKUP(OpKernelConstruction_Failure, "TF_OpKernelConstruction_Failure")
  LOOKUP(NumDims, "TF_NumDims")
  LOOKUP(Dim, "TF_Dim")
  LOOKUP(TensorData, "TF_TensorData")
  LOOKUP(DeleteTensor, "TF_DeleteTensor")
#undef LOOKUP
  return 1;
}

static void define(const char* name, const char* const* in, int inputs, const char* const* out, int outputs,
                   const char* const* attrs, int attr_count,
                   void (*shape_fn)(TF_ShapeInferenceContext*, TF_Status*), void* (*create)(TF_OpKernelConstruction*),
                   void (*compute)(void*, TF_OpKernelContext*), void (*destroy)(void*), TF_Status* status) {
  TF_OpDefinitionBuilder* op = tf.NewOpDefinitionBuilder(name);
  for (int i = 0; i < inputs; i++) {
    tf.OpDefinitionBuilderAddInput(op, in[i]);
  }
  for (int i = 0; i < outputs; i++) {
    tf.OpDefinitionBuilderAddOutput(op, out[i]);
  }
  for (int i = 0; i < attr_count; i++) {
    tf.OpDefinitionBuilderAddAttr(op, attrs[i]);
  }
  tf.OpDefinitionBuilderSetShapeInferenceFunction(op, shape_fn);
  tf.RegisterOpDefinition(op, status);
  if (tf.GetCode(status) != TF_OK) {
    return;
  }
  tf.RegisterKernelBuilder(name, tf.NewKernelBuilder(name, "CPU", create, compute, destroy), status);
}

/* The kernel function of the op that `spec` describes. */
#define KERNEL(fn, spec)                                   \
  static void fn(void* kernel, TF_OpKernelContext* ctx) { \
    (void) kernel;                                         \
    compute(&spec, ctx);                                   \
  }

/* A shape function: output i has the shape of the i-th listed input. */
#define SHAPES(fn, ...)                                                  \
  static void fn(TF_ShapeInferenceContext* ctx, TF_Status* status) {    \
    static const int from[] = {__VA_ARGS__};                            \
    same_shapes(ctx, status, from, (int) (sizeof from / sizeof from[0])); \
  }

/*
 * One op to register: its inputs' and outputs' specs ("name: float"), shape function and kernel; optionally
 * attributes ("eps: float = 1e-5") with a `create` function that reads them into the kernel's state (passed
 * to the kernel function, released by `destroy`).
 */
typedef struct {
  const char* name;
  const char* const* in;
  int inputs;
  const char* const* out;
  int outputs;
  void (*shapes)(TF_ShapeInferenceContext*, TF_Status*);
  void (*kernel)(void*, TF_OpKernelContext*);
  const char* const* attrs;
  int attr_count;
  void* (*create)(TF_OpKernelConstruction*);
  void (*destroy)(void*);
} OpDef;

/* Registers `count` ops and their CPU kernels, in order, stopping at the first failure (said on stderr). */
static void register_ops(const char* library_name, const OpDef* ops, int count) {
  TF_Status* status = tf.NewStatus();
  for (int i = 0; i < count && tf.GetCode(status) == TF_OK; i++) {
    define(ops[i].name, ops[i].in, ops[i].inputs, ops[i].out, ops[i].outputs, ops[i].attrs, ops[i].attr_count,
           ops[i].shapes, ops[i].create, ops[i].kernel, ops[i].destroy, status);
    if (tf.GetCode(status) != TF_OK) {
      fprintf(stderr, "%s: registering %s failed\n", library_name, ops[i].name);
    }
  }
  tf.DeleteStatus(status);
}

/* 1 when TensorFlow's C API is found in the loaded libtensorflow_framework.so.2; else says why on stderr. */
static int tf_api(const char* library_name) {
  void* library = dlopen("libtensorflow_framework.so.2", RTLD_NOW | RTLD_NOLOAD);
  if (library == NULL) {
    fprintf(stderr, "%s: load this library through TensorFlow (libtensorflow_framework.so.2 is not loaded)\n",
            library_name);
    return 0;
  }
  return lookup(library);
}

#endif
