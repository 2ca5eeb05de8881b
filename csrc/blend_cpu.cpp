// The neighbour blend at inference, fused (OpenMP over queries). Each query's neighbours go through the
// pair features, the attention MLP, the tapered softmax, the weighted sum of their embeddings and the
// gate in one pass that stays in registers and L1, where the PyTorch module makes a dozen [n, k, 32]
// tensors per chunk. Same formulas as earth4d_gis/neighbours.py (NeighbourBlend with ReLU, pair_features).
//
// On x86-64 the loops are compiled twice, for AVX2 + FMA (x86-64-v3) and the baseline, and the loader
// picks the one the CPU runs: the extension is built once and may be used on another machine.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "blend_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EARTH4D_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define EARTH4D_CPU_CLONES
#endif

namespace earth4d {
namespace {

constexpr float kMinDistance = 1.0f;   // neighbours._MIN_DISTANCE_M
constexpr float kMinTaper = 1e-6f;     // neighbours._MIN_TAPER
constexpr float kMinNorm = 1e-6f;      // the codes' lengths are clamped to this in the cosines
constexpr float kEmbeddingScale = 127.0f;

constexpr int kWidth = kBlendWidth;

// y = relu(bias + sum of x[i] * row i of wt [In, kWidth]): a sum of scaled weight rows, vectorised over
// the outputs, in two interleaved sums so that each fused multiply-add need not wait for the one before.
template <int In>
inline void dense_relu(const float* __restrict bias, const float* __restrict wt, const float* __restrict x,
                       float* __restrict y) {
  float even[kWidth];
  float odd[kWidth];
  for (int o = 0; o < kWidth; ++o) {
    even[o] = bias[o];
    odd[o] = 0.0f;
  }
  for (int i = 0; i + 1 < In; i += 2) {
    for (int o = 0; o < kWidth; ++o) even[o] += x[i] * wt[i * kWidth + o];
    for (int o = 0; o < kWidth; ++o) odd[o] += x[i + 1] * wt[(i + 1) * kWidth + o];
  }
  if (In % 2 == 1) {
    for (int o = 0; o < kWidth; ++o) even[o] += x[In - 1] * wt[(In - 1) * kWidth + o];
  }
  for (int o = 0; o < kWidth; ++o) y[o] = std::max(even[o] + odd[o], 0.0f);
}

// y += a * code over the 64 bands. The row is copied first: an int8 pointer may alias anything, and
// loads through it next to stores to y kept the loop scalar.
inline void add_scaled_codes(float* __restrict y, const int8_t* code, float a) {
  int8_t row[kBlendDim];
  std::memcpy(row, code, sizeof(row));
  for (int c = 0; c < kBlendDim; ++c) y[c] += a * static_cast<float>(row[c]);
}

// Dot products in 8 independent partial sums: they vectorise (a single running sum cannot be reordered,
// and would wait on each addition in turn).
template <int N, typename T>
inline float dot(const float* __restrict x, const T* __restrict y) {
  static_assert(N % 8 == 0, "whole blocks of 8");
  float part[8] = {};
  for (int c = 0; c < N; c += 8) {
    for (int l = 0; l < 8; ++l) part[l] += x[c + l] * static_cast<float>(y[c + l]);
  }
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// The attention MLP's logit of one neighbour's pair features x[7].
inline float attention(const BlendArgs& a, const float* x) {
  float h1[kWidth];
  float h2[kWidth];
  dense_relu<kBlendPairFeatures>(a.att_b1, a.att_w1t, x, h1);
  dense_relu<kWidth>(a.att_b2, a.att_w2t, h1, h2);
  return a.att_b3 + dot<kWidth>(a.att_w3, h2);
}

inline float gate(const BlendArgs& a, const float* summary) {
  float h[kWidth];
  dense_relu<kBlendGateFeatures>(a.gate_b1, a.gate_w1t, summary, h);
  const float z = a.gate_b2 + dot<kWidth>(a.gate_w2, h);
  return 1.0f / (1.0f + std::exp(-z));
}

// One query's blend into out[q].
EARTH4D_CPU_CLONES
void blend_query(const BlendArgs& a, int64_t q, float* out) {
  const int k = a.k;
  float log_d[kBlendMaxNeighbours];
  float similar[kBlendMaxNeighbours];
  float abs_dz[kBlendMaxNeighbours];
  float dt[kBlendMaxNeighbours];
  float logits[kBlendMaxNeighbours];
  const float* field = a.field + q * kBlendDim;
  const int64_t* idx = a.idx + q * k;
  const float* dist = a.dist + q * k;
  float unit[kBlendDim];
  const float inv = 1.0f / std::max(std::sqrt(dot<kBlendDim>(field, field)), 1e-12f);
  for (int c = 0; c < kBlendDim; ++c) unit[c] = field[c] * inv;

  for (int j = 0; j < k; ++j) {
    const int64_t row = idx[j];
    log_d[j] = std::log(std::max(dist[j], kMinDistance)) / 10.0f;
    const float dz = (a.height[q] - a.bank_height[row]) / 1000.0f;
    abs_dz[j] = std::fabs(dz);
    dt[j] = std::fabs(a.time[q] - a.bank_time[row]) * a.years;
    similar[j] = dot<kBlendDim>(unit, a.codes + row * kBlendDim) / std::max(a.norms[row], kMinNorm);
    const float x[kBlendPairFeatures] = {log_d[j], dz,          abs_dz[j], dt[j], std::min(dt[j], 1.0f),
                                         similar[j], similar[j] * log_d[j]};
    logits[j] = attention(a, x);
  }
  // Inverse distance, tapered to zero at the last neighbour's distance: the module's logits are
  // attention - log d + log(max(1 - r^8, 1e-6)) with r = d / d_last, so each softmax numerator is
  // exp(attention - log d - top) * max(1 - r^8, 1e-6), one exp where the module takes two and a log.
  const float last = std::max(dist[k - 1], kMinDistance);
  float top = -INFINITY;
  for (int j = 0; j < k; ++j) {
    logits[j] -= 10.0f * log_d[j];
    top = std::max(top, logits[j]);
  }
  float total = 0.0f;
  for (int j = 0; j < k; ++j) {
    float ratio = std::max(dist[j], kMinDistance) / last;
    ratio *= ratio;
    ratio *= ratio;
    ratio *= ratio;
    logits[j] = std::exp(logits[j] - top) * std::max(1.0f - ratio, kMinTaper);  // softmax numerators
    total += logits[j];
  }
  float blended[kBlendDim] = {};
  float summary[kBlendGateFeatures] = {log_d[0], 0.0f, 0.0f, 0.0f, 0.0f, (top + std::log(total)) / 10.0f};
  for (int j = 0; j < k; ++j) {
    const float weight = logits[j] / total;
    add_scaled_codes(blended, a.codes + idx[j] * kBlendDim, weight);
    summary[1] += weight * log_d[j];
    summary[2] += weight * similar[j];
    summary[3] += weight * abs_dz[j];
    summary[4] += weight * dt[j];
  }
  const float g = gate(a, summary);
  float* result = out + q * kBlendDim;
  for (int c = 0; c < kBlendDim; ++c) result[c] = field[c] + g * (blended[c] / kEmbeddingScale - field[c]);
}

}  // namespace

void blend_cpu(const BlendArgs& a, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t q = 0; q < a.n; ++q) blend_query(a, q, out);
}

}  // namespace earth4d
