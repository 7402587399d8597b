/*
 * Fused CPU kernel of mlgru's recurrence, registered with TensorFlow when it loads this library
 * (see core/src/main/c-include/leviathan_kernels.h for how):
 *
 * LeviathanLinearScan(log_a [B,T,C], u [B,T,C]) -> h [B,T,C]:  h_t = exp(log_a_t) h_{t-1} + u_t, h_{-1} = 0.
 *
 * LeviathanLinearScanGrad(log_a, u, h, dh) -> (dlog_a, du): the gradients of a loss L given dh = dL/dh, by
 * the recurrence backwards, G_t = dh_t + exp(log_a_{t+1}) G_{t+1}:  du_t = G_t, dlog_a_t = G_t a_t h_{t-1}.
 *
 * O(T C) per sequence; row t reads positions <= t only, so outputs are causal bit for bit. Every factor
 * a_t = exp(log_a_t) is a gate in (0, 1) (log_a <= 0), so the states stay bounded by the inputs' sums.
 */
#include "leviathan_kernels.h"

INLINE void linear_scan_body(const float* restrict log_a, const float* restrict u, int t_len, int c_len,
                             float* restrict h) {
  memcpy(h, u, sizeof(float) * (size_t) c_len);
  for (int t = 1; t < t_len; t++) {
    const size_t o = (size_t) t * c_len;
    for (int c = 0; c < c_len; c++) {
      h[o + c] = expf(log_a[o + c]) * h[o - c_len + c] + u[o + c];
    }
  }
}

/* scratch: g and the next position's factor a_{t+1}, [C] each */
INLINE void linear_scan_grad_body(const float* restrict log_a, const float* restrict h, const float* restrict dh,
                                  int t_len, int c_len, float* restrict dlog_a, float* restrict du,
                                  float* restrict scratch) {
  float* restrict g = scratch;
  float* restrict a_next = scratch + c_len;
  memset(g, 0, sizeof(float) * (size_t) c_len);
  memset(a_next, 0, sizeof(float) * (size_t) c_len); /* 0 past the last position */
  for (int t = t_len - 1; t >= 0; t--) {
    const size_t o = (size_t) t * c_len;
    /* the state before, 0 before the first position */
    const float* before = t > 0 ? h + o - c_len : h;
    const float has_before = t > 0 ? 1.f : 0.f;
    for (int c = 0; c < c_len; c++) {
      const float a = expf(log_a[o + c]);
      g[c] = dh[o + c] + a_next[c] * g[c];
      du[o + c] = g[c];
      dlog_a[o + c] = g[c] * a * has_before * before[c];
      a_next[c] = a;
    }
  }
}

VARIANTS(linear_scan,
         (const float* restrict log_a, const float* restrict u, int t_len, int c_len, float* restrict h),
         (log_a, u, t_len, c_len, h))
VARIANTS(linear_scan_grad,
         (const float* restrict log_a, const float* restrict h, const float* restrict dh, int t_len, int c_len,
          float* restrict dlog_a, float* restrict du, float* restrict scratch),
         (log_a, h, dh, t_len, c_len, dlog_a, du, scratch))

static void choose_variants(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    linear_scan = linear_scan_avx2;
    linear_scan_grad = linear_scan_grad_avx2;
  }
}

static void scan_one(const Work* w, size_t o) {
  linear_scan(w->in[0] + o, w->in[1] + o, (int) w->t, (int) w->c, w->out[0] + o);
}

static void scan_grad_one(const Work* w, size_t o) {
  linear_scan_grad(w->in[0] + o, w->in[2] + o, w->in[3] + o, (int) w->t, (int) w->c, w->out[0] + o, w->out[1] + o,
                   w->scratch);
}

/* O(T C) per call: one thread, which costs about as much as the work would save. */
static const int scan_sequences[] = {1};
static const int scan_grad_sequences[] = {1, 2, 3};
static const Spec SCAN = {"LeviathanLinearScan", 2, scan_sequences, 1, -1, 1, 0, scan_one, 0, 1, 1, 0, 0};
static const Spec SCAN_GRAD = {"LeviathanLinearScanGrad", 4, scan_grad_sequences, 3, -1, 2, 0, scan_grad_one, 0, 2, 1,
                               0, 0};

KERNEL(scan_kernel, SCAN)
KERNEL(scan_grad_kernel, SCAN_GRAD)
SHAPES(scan_shapes, 0)
SHAPES(scan_grad_shapes, 0, 1)

static const char* const scan_in[] = {"log_a: float", "u: float"};
static const char* const scan_out[] = {"h: float"};
static const char* const grad_in[] = {"log_a: float", "u: float", "h: float", "dh: float"};
static const char* const grad_out[] = {"dlog_a: float", "du: float"};
static const OpDef OPS[] = {
    {"LeviathanLinearScan", scan_in, 2, scan_out, 1, scan_shapes, scan_kernel, NULL, 0, NULL, NULL},
    {"LeviathanLinearScanGrad", grad_in, 4, grad_out, 2, scan_grad_shapes, scan_grad_kernel, NULL, 0, NULL, NULL},
};

__attribute__((constructor)) static void register_kernels(void) {
  if (tf_api("leviathan-mml")) {
    choose_variants();
    register_ops("leviathan-mml", OPS, (int) (sizeof OPS / sizeof OPS[0]));
  }
}
