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
 * LeviathanAftMixGated(qkv [B,T,3,C], e) -> (y, ratio, den): the same sums of k = qkv[:,:,1] and
 * v = qkv[:,:,2] read out through the gate, ratio = num / den and y = sigmoid(q) ratio with q = qkv[:,:,0];
 * LeviathanAftMixGatedGrad(qkv, e, y, ratio, den, dy) -> (dqkv, de) takes dy alone (dden = 0). A training
 * step reads the projection's output as it is: no split into q, k and v, no gate op and no concatenation of
 * their gradients.
 *
 * LeviathanAftScanGated(qkv) -> (y, ratio, den) and LeviathanAftScanGatedGrad(qkv, y, ratio, den, dy) -> dqkv:
 * the same with every weight e[t,t'] = 1 (aft-simple), in O(T C) as a scan,
 *
 *   m_t = max(m_{t-1}, k_t),  S_t = exp(m_{t-1} - m_t) S_{t-1} + exp(k_t - m_t) [v_t; 1],
 *
 * and its gradient as a scan backwards, R_t = g_t + exp(m_t - m_{t+1}) R_{t+1} (likewise for h):
 * dv_t = exp(k_t - m_t) R_t, dk_t = exp(k_t - m_t) (v_t R_t + H_t).
 *
 * Row t reads positions t' <= t only and its arithmetic does not depend on T, so outputs are
 * causal bit for bit. Every exp has an argument <= 0 (k_t' <= m_t), so any finite keys give finite
 * sums. Inputs are expected finite (the library is built with -ffast-math for vectorised exp).
 *
 * What every such library needs (TensorFlow's C API, looked up at load time, and the plumbing of a
 * kernel) is core/src/main/c-include/leviathan_kernels.h.
 */
#include "leviathan_kernels.h"

/* ---------------------------------------------------------------------------------------------
 * Arithmetic, one sequence (batch entry) at a time. Channels are the innermost, vectorised loop.
 */

/* m [T, C]: the running maximum of the keys, whose row t is at k + t ld */
INLINE void running_max(const float* k, size_t ld, int t_len, int c_len, float* m) {
  memcpy(m, k, sizeof(float) * (size_t) c_len);
  for (int t = 1; t < t_len; t++) {
    const float* prev = m + (size_t) (t - 1) * c_len;
    const float* kt = k + (size_t) t * ld;
    float* mt = m + (size_t) t * c_len;
    for (int c = 0; c < c_len; c++) {
      mt[c] = kt[c] > prev[c] ? kt[c] : prev[c];
    }
  }
}

/*
 * Columns are taken in blocks of L positions (L from N, so a row's arithmetic does not depend on T). A row
 * t reads the blocks before its own through their block maxima M_J <= m_t:
 *
 *   exp(k_u - m_t) = exp(k_u - M_J) exp(M_J - m_t),  both factors <= 1,
 *
 * one exp per (u, c) and one per (t, J, c), the rest multiply-adds; inside its own block, exactly
 * exp(k_u - m_t) for u <= t. (Terms that underflow are below 1e-38 of the largest key's term: the
 * graph form's dyadic rectangles scale by block maxima the same way.)
 */
static int block_length(int n) {
  int l = 8;
  while (l * l < n) {
    l *= 2;
  }
  return l;
}

/* Per column u: p = exp(k_u - M_J), pv = p v_u; per block J: M_J [blocks, C]. */
INLINE void block_terms(const float* restrict k, const float* restrict v, int t_len, int c_len, int l,
                        float* restrict block_max, float* restrict p, float* restrict pv) {
  for (int j = 0; j * l < t_len; j++) {
    int end = (j + 1) * l < t_len ? (j + 1) * l : t_len;
    float* mj = block_max + (size_t) j * c_len;
    memcpy(mj, k + (size_t) j * l * c_len, sizeof(float) * (size_t) c_len);
    for (int u = j * l + 1; u < end; u++) {
      const float* ku = k + (size_t) u * c_len;
      for (int c = 0; c < c_len; c++) {
        mj[c] = ku[c] > mj[c] ? ku[c] : mj[c];
      }
    }
    for (int u = j * l; u < end; u++) {
      const size_t o = (size_t) u * c_len;
      for (int c = 0; c < c_len; c++) {
        p[o + c] = expf(k[o + c] - mj[c]);
        pv[o + c] = p[o + c] * v[o + c];
      }
    }
  }
}

/*
 * acc_n = sum_{u in [from, to)} w[u] pv_u and acc_d = sum w[u] p_u, per channel: 16 channels at a time, their
 * sums in registers over the block (each channel's sum runs over u in order, as a plain loop's would).
 */
INLINE void block_sums(const float* restrict w, const float* restrict p, const float* restrict pv, int from, int to,
                       int c_len, float* restrict acc_n, float* restrict acc_d) {
  int c0 = 0;
  for (; c0 + 16 <= c_len; c0 += 16) {
    v8 n0 = SPLAT8(0.f), n1 = n0, d0 = n0, d1 = n0;
    for (int u = from; u < to; u++) {
      const v8 wu = SPLAT8(w[u]);
      const float* restrict pu = p + (size_t) u * c_len + c0;
      const float* restrict pvu = pv + (size_t) u * c_len + c0;
      n0 += wu * LOAD8(pvu);
      n1 += wu * LOAD8(pvu + 8);
      d0 += wu * LOAD8(pu);
      d1 += wu * LOAD8(pu + 8);
    }
    STORE8(acc_n + c0, n0);
    STORE8(acc_n + c0 + 8, n1);
    STORE8(acc_d + c0, d0);
    STORE8(acc_d + c0 + 8, d1);
  }
  for (int c = c0; c < c_len; c++) {
    float an = 0.f, ad = 0.f;
    for (int u = from; u < to; u++) {
      an += w[u] * pv[(size_t) u * c_len + c];
      ad += w[u] * p[(size_t) u * c_len + c];
    }
    acc_n[c] = an;
    acc_d[c] = ad;
  }
}

/* scratch: m [T, C], p [T, C], pv [T, C], block maxima [T, C], two rows [C] */
INLINE void mix_sequence_body(const float* restrict k, const float* restrict v, const float* restrict e, int t_len,
                              int n, int c_len, float* restrict y, float* restrict den, float* restrict scratch) {
  const size_t size = (size_t) t_len * c_len;
  float* restrict m = scratch;
  float* restrict p = scratch + size;
  float* restrict pv = scratch + 2 * size;
  float* restrict block_max = scratch + 3 * size;
  float* restrict num = scratch + 4 * size;
  float* restrict acc_n = num + c_len;
  float* restrict acc_d = acc_n + c_len;
  const int l = block_length(n);
  running_max(k, (size_t) c_len, t_len, c_len, m);
  block_terms(k, v, t_len, c_len, l, block_max, p, pv);
  for (int t = 0; t < t_len; t++) {
    const float* mt = m + (size_t) t * c_len;
    const float* et = e + (size_t) t * n;
    float* dt = den + (size_t) t * c_len;
    memset(num, 0, sizeof(float) * (size_t) c_len);
    memset(dt, 0, sizeof(float) * (size_t) c_len);
    const int own = t / l;
    for (int j = 0; j < own; j++) {
      block_sums(et, p, pv, j * l, (j + 1) * l, c_len, acc_n, acc_d);
      const float* mj = block_max + (size_t) j * c_len;
      for (int c = 0; c < c_len; c++) {
        const float scale = expf(mj[c] - mt[c]);
        num[c] += scale * acc_n[c];
        dt[c] += scale * acc_d[c];
      }
    }
    for (int u = own * l; u <= t; u++) {
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

/* scratch: m, p, pv, block maxima, g, h, a, b, f, f2 [T, C] each */
INLINE void mix_sequence_grad_body(const float* restrict k, const float* restrict v, const float* restrict e,
                                   const float* restrict y, const float* restrict den, const float* restrict dy,
                                   const float* restrict dden, int t_len, int n, int c_len, float* restrict dk,
                                   float* restrict dv, float* restrict de, float* restrict scratch) {
  const size_t size = (size_t) t_len * c_len;
  float* restrict m = scratch;
  float* restrict p = scratch + size;
  float* restrict pv = scratch + 2 * size;
  float* restrict block_max = scratch + 3 * size;
  float* restrict g = scratch + 4 * size;
  float* restrict h = scratch + 5 * size;
  float* restrict acc_a = scratch + 6 * size;
  float* restrict acc_b = scratch + 7 * size;
  float* restrict f = scratch + 8 * size;
  float* restrict f2 = scratch + 9 * size;
  const int l = block_length(n);
  running_max(k, (size_t) c_len, t_len, c_len, m);
  block_terms(k, v, t_len, c_len, l, block_max, p, pv);
  memset(acc_a, 0, sizeof(float) * 2 * size);
  memset(dk, 0, sizeof(float) * size);
  memset(dv, 0, sizeof(float) * size);
  for (size_t i = 0; i < size; i++) {
    g[i] = dy[i] / den[i];
    h[i] = (dden != NULL ? dden[i] : 0.f) - g[i] * y[i];
  }
  /* the blocks before each row: column block by column block, every later row's scaled g and h first */
  const int blocks = (t_len + l - 1) / l;
  for (int j = 0; j + 1 < blocks; j++) {
    const float* mj = block_max + (size_t) j * c_len;
    for (int t = (j + 1) * l; t < t_len; t++) {
      const size_t o = (size_t) t * c_len;
      for (int c = 0; c < c_len; c++) {
        const float scale = expf(mj[c] - m[o + c]);
        f[o + c] = scale * g[o + c];
        f2[o + c] = scale * h[o + c];
      }
    }
    const int later = (j + 1) * l;
    for (int u = j * l; u < later; u++) {
      const size_t ou = (size_t) u * c_len;
      /* a_u = sum_t e[t,u] f_t and b_u likewise, 16 channels at a time, the sums over t in registers */
      int c0 = 0;
      for (; c0 + 16 <= c_len; c0 += 16) {
        v8 a0 = SPLAT8(0.f), a1 = a0, b0 = a0, b1 = a0;
        for (int t = later; t < t_len; t++) {
          const v8 w = SPLAT8(e[(size_t) t * n + u]);
          const float* ft = f + (size_t) t * c_len + c0;
          const float* f2t = f2 + (size_t) t * c_len + c0;
          a0 += w * LOAD8(ft);
          a1 += w * LOAD8(ft + 8);
          b0 += w * LOAD8(f2t);
          b1 += w * LOAD8(f2t + 8);
        }
        STORE8(acc_a + ou + c0, a0);
        STORE8(acc_a + ou + c0 + 8, a1);
        STORE8(acc_b + ou + c0, b0);
        STORE8(acc_b + ou + c0 + 8, b1);
      }
      for (int c = c0; c < c_len; c++) {
        float a = 0.f, b = 0.f;
        for (int t = later; t < t_len; t++) {
          const float w = e[(size_t) t * n + u];
          a += w * f[(size_t) t * c_len + c];
          b += w * f2[(size_t) t * c_len + c];
        }
        acc_a[ou + c] = a;
        acc_b[ou + c] = b;
      }
      /* de[t,u] += sum_c pv_u f_t + p_u f2_t */
      for (int t = later; t < t_len; t++) {
        const size_t o = (size_t) t * c_len;
        v8 d0 = SPLAT8(0.f), d1 = d0;
        int c = 0;
        for (; c + 16 <= c_len; c += 16) {
          d0 += LOAD8(pv + ou + c) * LOAD8(f + o + c) + LOAD8(p + ou + c) * LOAD8(f2 + o + c);
          d1 += LOAD8(pv + ou + c + 8) * LOAD8(f + o + c + 8) + LOAD8(p + ou + c + 8) * LOAD8(f2 + o + c + 8);
        }
        const v8 d = d0 + d1;
        float dot = ((d[0] + d[4]) + (d[1] + d[5])) + ((d[2] + d[6]) + (d[3] + d[7]));
        for (; c < c_len; c++) {
          dot += pv[ou + c] * f[o + c] + p[ou + c] * f2[o + c];
        }
        de[(size_t) t * n + u] += dot;
      }
    }
  }
  /* each row's own block, exactly */
  for (int t = 0; t < t_len; t++) {
    const float* mt = m + (size_t) t * c_len;
    const float* gt = g + (size_t) t * c_len;
    const float* ht = h + (size_t) t * c_len;
    const float* et = e + (size_t) t * n;
    float* det = de + (size_t) t * n;
    for (int u = (t / l) * l; u <= t; u++) {
      const float w = et[u];
      const size_t o = (size_t) u * c_len;
      float dot = 0.f;
      for (int c = 0; c < c_len; c++) {
        const float pu = expf(k[o + c] - mt[c]);
        const float q = gt[c] * v[o + c] + ht[c];
        const float a = w * pu;
        dv[o + c] += a * gt[c];
        dk[o + c] += a * q;
        dot += pu * q;
      }
      det[u] += dot;
    }
  }
  for (size_t i = 0; i < size; i++) {
    dv[i] += p[i] * acc_a[i];
    dk[i] += p[i] * (v[i] * acc_a[i] + acc_b[i]);
  }
}

/* k and v: row t at k + t ld, v + t ld; y, den [T, C] */
INLINE void scan_sequence_body(const float* restrict k, const float* restrict v, size_t ld, int t_len, int c_len,
                               float* restrict y, float* restrict den, float* restrict m, float* restrict num) {
  for (int c = 0; c < c_len; c++) {
    m[c] = k[c];
    num[c] = v[c];
    den[c] = 1.f;
    y[c] = v[c];
  }
  for (int t = 1; t < t_len; t++) {
    const float* kt = k + (size_t) t * ld;
    const float* vt = v + (size_t) t * ld;
    const float* prev = den + (size_t) (t - 1) * c_len;
    float* dt = den + (size_t) t * c_len;
    float* yt = y + (size_t) t * c_len;
    for (int c = 0; c < c_len; c++) {
      const float mn = kt[c] > m[c] ? kt[c] : m[c];
      const float s = expf(m[c] - mn);
      const float a = expf(kt[c] - mn);
      num[c] = num[c] * s + a * vt[c];
      dt[c] = prev[c] * s + a;
      yt[c] = num[c] / dt[c];
      m[c] = mn;
    }
  }
}

/* k, v and dk, dv: row t at + t ld; y, den, dy [T, C] */
INLINE void scan_sequence_grad_body(const float* restrict k, const float* restrict v, size_t ld,
                                    const float* restrict y, const float* restrict den, const float* restrict dy,
                                    int t_len, int c_len, float* restrict dk, float* restrict dv, float* restrict m,
                                    float* restrict r, float* restrict h) {
  running_max(k, ld, t_len, c_len, m);
  memset(r, 0, sizeof(float) * (size_t) c_len);
  memset(h, 0, sizeof(float) * (size_t) c_len);
  /* f_t = exp(m_t - m_{t+1}), 0 past the last position */
  for (int t = t_len - 1; t >= 0; t--) {
    const size_t o = (size_t) t * c_len;
    const size_t row = (size_t) t * ld;
    const float* mn = t + 1 < t_len ? m + o + c_len : m + o;
    const float last = t + 1 < t_len ? 1.f : 0.f;
    for (int c = 0; c < c_len; c++) {
      const float g = dy[o + c] / den[o + c];
      const float hh = -g * y[o + c];
      /* R_t = g_t + exp(m_t - m_{t+1}) R_{t+1}; likewise H */
      const float f = last * expf(m[o + c] - mn[c]);
      r[c] = g + f * r[c];
      h[c] = hh + f * h[c];
      const float p = expf(k[row + c] - m[o + c]);
      dv[row + c] = p * r[c];
      dk[row + c] = p * (v[row + c] * r[c] + h[c]);
    }
  }
}

/*
 * The gated forms read q, k and v from one [T, 3, C] block (the qkv projection's rows, no split) and the gate
 * y = sigmoid(q) ratio follows the sums; the gradient writes dq, dk and dv into one [T, 3, C] block (no concat)
 * and needs no dden (the den output is read by nothing but the gradient).
 */
INLINE void unpack_kv(const float* restrict qkv, int t_len, int c_len, float* restrict k, float* restrict v) {
  for (int t = 0; t < t_len; t++) {
    const float* row = qkv + (size_t) t * 3 * c_len;
    memcpy(k + (size_t) t * c_len, row + c_len, sizeof(float) * (size_t) c_len);
    memcpy(v + (size_t) t * c_len, row + 2 * c_len, sizeof(float) * (size_t) c_len);
  }
}

INLINE void gate_rows(const float* restrict qkv, const float* restrict ratio, int t_len, int c_len,
                      float* restrict y) {
  for (int t = 0; t < t_len; t++) {
    sigmoid_gate_body(qkv + (size_t) t * 3 * c_len, ratio + (size_t) t * c_len, c_len, y + (size_t) t * c_len);
  }
}

/* dq into dqkv's q rows, dratio [T, C] */
INLINE void gate_rows_grad(const float* restrict qkv, const float* restrict ratio, const float* restrict dy,
                           int t_len, int c_len, float* restrict dqkv, float* restrict dratio) {
  for (int t = 0; t < t_len; t++) {
    const size_t o = (size_t) t * c_len;
    sigmoid_gate_grad_body(qkv + 3 * o, ratio + o, dy + o, c_len, dqkv + 3 * o, dratio + o);
  }
}

INLINE void pack_dkv(const float* restrict dk, const float* restrict dv, int t_len, int c_len,
                     float* restrict dqkv) {
  for (int t = 0; t < t_len; t++) {
    float* row = dqkv + (size_t) t * 3 * c_len;
    memcpy(row + c_len, dk + (size_t) t * c_len, sizeof(float) * (size_t) c_len);
    memcpy(row + 2 * c_len, dv + (size_t) t * c_len, sizeof(float) * (size_t) c_len);
  }
}

/* scratch: m and num rows */
INLINE void gated_scan_sequence_body(const float* restrict qkv, int t_len, int c_len, float* restrict y,
                                     float* restrict ratio, float* restrict den, float* restrict scratch) {
  scan_sequence_body(qkv + c_len, qkv + 2 * c_len, 3 * (size_t) c_len, t_len, c_len, ratio, den, scratch,
                     scratch + c_len);
  gate_rows(qkv, ratio, t_len, c_len, y);
}

/* scratch: dratio, m [T, C], r and h rows */
INLINE void gated_scan_sequence_grad_body(const float* restrict qkv, const float* restrict ratio,
                                          const float* restrict den, const float* restrict dy, int t_len, int c_len,
                                          float* restrict dqkv, float* restrict scratch) {
  const size_t size = (size_t) t_len * c_len;
  float* dratio = scratch;
  float* m = scratch + size;
  gate_rows_grad(qkv, ratio, dy, t_len, c_len, dqkv, dratio);
  scan_sequence_grad_body(qkv + c_len, qkv + 2 * c_len, 3 * (size_t) c_len, ratio, den, dratio, t_len, c_len,
                          dqkv + c_len, dqkv + 2 * c_len, m, m + size, m + size + c_len);
}

/* scratch: k, v [T, C], then mix_sequence's */
INLINE void gated_mix_sequence_body(const float* restrict qkv, const float* restrict e, int t_len, int n, int c_len,
                                    float* restrict y, float* restrict ratio, float* restrict den,
                                    float* restrict scratch) {
  const size_t size = (size_t) t_len * c_len;
  float* k = scratch;
  float* v = scratch + size;
  unpack_kv(qkv, t_len, c_len, k, v);
  mix_sequence_body(k, v, e, t_len, n, c_len, ratio, den, scratch + 2 * size);
  gate_rows(qkv, ratio, t_len, c_len, y);
}

/* scratch: k, v, dratio, dk, dv [T, C], then mix_sequence_grad's */
INLINE void gated_mix_sequence_grad_body(const float* restrict qkv, const float* restrict e,
                                         const float* restrict ratio, const float* restrict den,
                                         const float* restrict dy, int t_len, int n, int c_len, float* restrict dqkv,
                                         float* restrict de, float* restrict scratch) {
  const size_t size = (size_t) t_len * c_len;
  float* k = scratch;
  float* v = scratch + size;
  float* dratio = scratch + 2 * size;
  float* dk = scratch + 3 * size;
  float* dv = scratch + 4 * size;
  unpack_kv(qkv, t_len, c_len, k, v);
  gate_rows_grad(qkv, ratio, dy, t_len, c_len, dqkv, dratio);
  mix_sequence_grad_body(k, v, e, ratio, den, dratio, NULL, t_len, n, c_len, dk, dv, de, scratch + 5 * size);
  pack_dkv(dk, dv, t_len, c_len, dqkv);
}

VARIANTS(mix_sequence,
         (const float* restrict k, const float* restrict v, const float* restrict e, int t_len, int n, int c_len,
          float* restrict y, float* restrict den, float* restrict scratch),
         (k, v, e, t_len, n, c_len, y, den, scratch))
VARIANTS(mix_sequence_grad,
         (const float* restrict k, const float* restrict v, const float* restrict e, const float* restrict y,
          const float* restrict den, const float* restrict dy, const float* restrict dden, int t_len, int n,
          int c_len, float* restrict dk, float* restrict dv, float* restrict de, float* restrict scratch),
         (k, v, e, y, den, dy, dden, t_len, n, c_len, dk, dv, de, scratch))
VARIANTS(gated_scan_sequence,
         (const float* restrict qkv, int t_len, int c_len, float* restrict y, float* restrict ratio,
          float* restrict den, float* restrict scratch),
         (qkv, t_len, c_len, y, ratio, den, scratch))
VARIANTS(gated_scan_sequence_grad,
         (const float* restrict qkv, const float* restrict ratio, const float* restrict den, const float* restrict dy,
          int t_len, int c_len, float* restrict dqkv, float* restrict scratch),
         (qkv, ratio, den, dy, t_len, c_len, dqkv, scratch))
VARIANTS(gated_mix_sequence,
         (const float* restrict qkv, const float* restrict e, int t_len, int n, int c_len, float* restrict y,
          float* restrict ratio, float* restrict den, float* restrict scratch),
         (qkv, e, t_len, n, c_len, y, ratio, den, scratch))
VARIANTS(gated_mix_sequence_grad,
         (const float* restrict qkv, const float* restrict e, const float* restrict ratio, const float* restrict den,
          const float* restrict dy, int t_len, int n, int c_len, float* restrict dqkv, float* restrict de,
          float* restrict scratch),
         (qkv, e, ratio, den, dy, t_len, n, c_len, dqkv, de, scratch))

static void choose_variants(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    mix_sequence = mix_sequence_avx2;
    mix_sequence_grad = mix_sequence_grad_avx2;
    gated_scan_sequence = gated_scan_sequence_avx2;
    gated_scan_sequence_grad = gated_scan_sequence_grad_avx2;
    gated_mix_sequence = gated_mix_sequence_avx2;
    gated_mix_sequence_grad = gated_mix_sequence_grad_avx2;
  }
}

/* ---------------------------------------------------------------------------------------------
 * Kernels.
 */

static void mix_one(const Work* w, size_t o) {
  mix_sequence(w->in[0] + o, w->in[1] + o, w->in[2], (int) w->t, (int) w->n, (int) w->c, w->out[0] + o,
               w->out[1] + o, w->scratch);
}

static void mix_grad_one(const Work* w, size_t o) {
  mix_sequence_grad(w->in[0] + o, w->in[1] + o, w->in[2], w->in[3] + o, w->in[4] + o, w->in[5] + o, w->in[6] + o,
                    (int) w->t, (int) w->n, (int) w->c, w->out[0] + o, w->out[1] + o, w->weights_out, w->scratch);
}

/* The gated ops: q, k and v at 3 `o` of qkv [B,T,3,C] (and of dqkv), every other sequence tensor at `o`. */
static void gated_scan_one(const Work* w, size_t o) {
  gated_scan_sequence(w->in[0] + 3 * o, (int) w->t, (int) w->c, w->out[0] + o, w->out[1] + o, w->out[2] + o,
                      w->scratch);
}

/* inputs qkv, y, ratio, den, dy */
static void gated_scan_grad_one(const Work* w, size_t o) {
  gated_scan_sequence_grad(w->in[0] + 3 * o, w->in[2] + o, w->in[3] + o, w->in[4] + o, (int) w->t, (int) w->c,
                           w->out[0] + 3 * o, w->scratch);
}

static void gated_mix_one(const Work* w, size_t o) {
  gated_mix_sequence(w->in[0] + 3 * o, w->in[1], (int) w->t, (int) w->n, (int) w->c, w->out[0] + o, w->out[1] + o,
                     w->out[2] + o, w->scratch);
}

/* inputs qkv, e, y, ratio, den, dy */
static void gated_mix_grad_one(const Work* w, size_t o) {
  gated_mix_sequence_grad(w->in[0] + 3 * o, w->in[1], w->in[3] + o, w->in[4] + o, w->in[5] + o, (int) w->t,
                          (int) w->n, (int) w->c, w->out[0] + 3 * o, w->weights_out, w->scratch);
}

static const int mix_sequences[] = {1};
static const int mix_grad_sequences[] = {1, 3, 4, 5, 6};
static const Spec MIX = {"LeviathanAftMix", 3, mix_sequences, 1, 2, 2, 0, mix_one, 4, 3, 64, 0, 0};
static const Spec MIX_GRAD = {"LeviathanAftMixGrad", 7, mix_grad_sequences, 5, 2, 3, 1, mix_grad_one, 10, 0, 64,
                              0, 0};
/* The scans are O(T C) per call and take one thread: a thread would cost about as much as the work. */
static const int gated_scan_grad_sequences[] = {1, 2, 3, 4};
static const int gated_mix_grad_sequences[] = {2, 3, 4, 5};
static const Spec GATED_SCAN = {"LeviathanAftScanGated", 1, NULL, 0, -1, 3, 0, gated_scan_one, 0, 2, 1, 1, 0};
static const Spec GATED_SCAN_GRAD = {"LeviathanAftScanGatedGrad", 5, gated_scan_grad_sequences, 4, -1, 1, 0,
                                     gated_scan_grad_one, 2, 2, 1, 1, 1};
static const Spec GATED_MIX = {"LeviathanAftMixGated", 2, NULL, 0, 1, 3, 0, gated_mix_one, 6, 3, 64, 1, 0};
static const Spec GATED_MIX_GRAD = {"LeviathanAftMixGatedGrad", 6, gated_mix_grad_sequences, 4, 1, 2, 1,
                                    gated_mix_grad_one, 15, 0, 64, 1, 1};

KERNEL(mix_kernel, MIX)
KERNEL(mix_grad_kernel, MIX_GRAD)
KERNEL(gated_scan_kernel, GATED_SCAN)
KERNEL(gated_scan_grad_kernel, GATED_SCAN_GRAD)
KERNEL(gated_mix_kernel, GATED_MIX)
KERNEL(gated_mix_grad_kernel, GATED_MIX_GRAD)
SHAPES(mix_shapes, 0, 0)
SHAPES(mix_grad_shapes, 0, 1, 2)
SHAPES(gated_scan_grad_shapes, 0)
SHAPES(gated_mix_grad_shapes, 0, 1)

/* y, ratio and den [B, T, C] from qkv [B, T, 3, C]. */
static void gated_shapes(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeHandle* rows = tf.NewShapeHandle();
  rows_shape(ctx, status, 4, 3, 4, rows);
  for (int i = 0; i < 3 && tf.GetCode(status) == TF_OK; i++) {
    tf.ShapeInferenceContextSetOutput(ctx, i, rows, status);
  }
  tf.DeleteShapeHandle(rows);
}

static const char* const mix_in[] = {"k: float", "v: float", "e: float"};
static const char* const mix_out[] = {"y: float", "den: float"};
static const char* const mix_grad_in[] = {"k: float", "v: float", "e: float", "y: float", "den: float",
                                          "dy: float", "dden: float"};
static const char* const mix_grad_out[] = {"dk: float", "dv: float", "de: float"};
static const char* const gated_scan_in[] = {"qkv: float"};
static const char* const gated_mix_in[] = {"qkv: float", "e: float"};
static const char* const gated_out[] = {"y: float", "ratio: float", "den: float"};
static const char* const gated_scan_grad_in[] = {"qkv: float", "y: float", "ratio: float", "den: float", "dy: float"};
static const char* const gated_mix_grad_in[] = {"qkv: float", "e: float", "y: float", "ratio: float", "den: float",
                                                "dy: float"};
static const char* const gated_scan_grad_out[] = {"dqkv: float"};
static const char* const gated_mix_grad_out[] = {"dqkv: float", "de: float"};
static const OpDef OPS[] = {
    {"LeviathanAftMix", mix_in, 3, mix_out, 2, mix_shapes, mix_kernel, NULL, 0, NULL, NULL},
    {"LeviathanAftMixGrad", mix_grad_in, 7, mix_grad_out, 3, mix_grad_shapes, mix_grad_kernel, NULL, 0, NULL, NULL},
    {"LeviathanAftScanGated", gated_scan_in, 1, gated_out, 3, gated_shapes, gated_scan_kernel, NULL, 0, NULL, NULL},
    {"LeviathanAftScanGatedGrad", gated_scan_grad_in, 5, gated_scan_grad_out, 1, gated_scan_grad_shapes,
     gated_scan_grad_kernel, NULL, 0, NULL, NULL},
    {"LeviathanAftMixGated", gated_mix_in, 2, gated_out, 3, gated_shapes, gated_mix_kernel, NULL, 0, NULL, NULL},
    {"LeviathanAftMixGatedGrad", gated_mix_grad_in, 6, gated_mix_grad_out, 2, gated_mix_grad_shapes,
     gated_mix_grad_kernel, NULL, 0, NULL, NULL},
};

__attribute__((constructor)) static void register_kernels(void) {
  if (tf_api("leviathan-aft")) {
    choose_variants();
    register_ops("leviathan-aft", OPS, (int) (sizeof OPS / sizeof OPS[0]));
  }
}
