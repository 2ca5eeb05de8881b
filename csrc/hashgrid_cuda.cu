// CUDA kernels: one thread per (point, level), level fastest, so a warp writes a contiguous stretch
// of the row-major [n, levels * features] output (coalesced). The table gradient uses atomicAdd;
// the coordinate gradient runs one thread per point over its levels (no atomics).
//
// The kernels use no shared memory, warp intrinsics or synchronisation, so tests/cuda_emulation can
// compile this file with g++ and run every thread on the host (its cuda_runtime.h stands in for CUDA's
// and defines EARTH4D_LAUNCH). A kernel that starts using any of those must grow that emulation with it.
// The caller (bindings.cpp) checks each launch with C10_CUDA_KERNEL_LAUNCH_CHECK(): this file stays
// torch-free.
#include <cuda_runtime.h>

#include "hashgrid_kernels.h"

// EARTH4D_LAUNCH(kernel, blocks, threads, stream)(args...) launches `kernel` on `stream`.
#ifndef EARTH4D_LAUNCH
#define EARTH4D_LAUNCH(kernel, blocks, threads, stream) kernel<<<(blocks), (threads), 0, (stream)>>>
#endif

namespace earth4d {
namespace {

constexpr int kThreads = 256;

// The (point, level) pair of this thread, as its flat index t = point * levels + level, with that
// level's info and the point's 8-corner stencil there. False for threads past the end.
__device__ inline bool point_level_stencil(const EncoderArgs& a, int64_t* t, LevelInfo* lv, Stencil* s) {
  *t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (*t >= a.n * a.n_levels) return false;
  const int64_t i = *t / a.n_levels;
  *lv = a.levels[*t - i * a.n_levels];
  double pos[3];
  level_position(a.coords + i * 4, *lv, pos);
  make_stencil(*lv, pos, a.smoothstep, s);
  return true;
}

template <int F>
__global__ void forward_kernel(const EncoderArgs a, const ConstTables tables, float* __restrict__ out) {
  int64_t t;
  LevelInfo lv;
  Stencil s;
  if (!point_level_stencil(a, &t, &lv, &s)) return;
  const float* __restrict__ table = tables.table[lv.grid];
  float acc[F] = {};
#pragma unroll
  for (int c = 0; c < 8; ++c) {
    const float* v = table + s.rows[c] * F;
#pragma unroll
    for (int f = 0; f < F; ++f) acc[f] += s.weight[c] * __ldg(v + f);
  }
#pragma unroll
  for (int f = 0; f < F; ++f) out[t * F + f] = acc[f];
}

template <int F>
__global__ void backward_tables_kernel(const EncoderArgs a, const float* __restrict__ grad_out,
                                       const Tables grad_tables) {
  int64_t t;
  LevelInfo lv;
  Stencil s;
  if (!point_level_stencil(a, &t, &lv, &s)) return;
  float* grad_table = grad_tables.table[lv.grid];
  float g[F];
#pragma unroll
  for (int f = 0; f < F; ++f) g[f] = grad_out[t * F + f];
#pragma unroll
  for (int c = 0; c < 8; ++c) {
    float* dst = grad_table + s.rows[c] * F;
#pragma unroll
    for (int f = 0; f < F; ++f) atomicAdd(dst + f, s.weight[c] * g[f]);
  }
}

template <int F>
__global__ void backward_coords_kernel(const EncoderArgs a, const ConstTables tables,
                                       const float* __restrict__ grad_out, double* __restrict__ grad_coords) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= a.n) return;
  const double* point = a.coords + i * 4;
  double acc[4] = {0.0, 0.0, 0.0, 0.0};
  for (int l = 0; l < a.n_levels; ++l) {
    const LevelInfo lv = a.levels[l];
    double pos[3];
    level_position(point, lv, pos);
    Stencil s;
    make_stencil(lv, pos, a.smoothstep, &s);
    const float* __restrict__ table = tables.table[lv.grid];
    const float* g = grad_out + (i * a.n_levels + l) * F;
    float dl[3] = {0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int c = 0; c < 8; ++c) {
      const float* v = table + s.rows[c] * F;
      float dot = 0.0f;
#pragma unroll
      for (int f = 0; f < F; ++f) dot += g[f] * __ldg(v + f);
#pragma unroll
      for (int d = 0; d < 3; ++d) dl[d] += dot * weight_derivative(s, c, d);
    }
    for (int d = 0; d < 3; ++d) acc[lv.axes[d]] += static_cast<double>(dl[d]) * static_cast<double>(lv.res[d]);
  }
#pragma unroll
  for (int d = 0; d < 4; ++d) grad_coords[i * 4 + d] = acc[d];
}

__global__ void indices_kernel(const EncoderArgs a, int64_t* __restrict__ out) {
  int64_t t;
  LevelInfo lv;
  Stencil s;
  if (!point_level_stencil(a, &t, &lv, &s)) return;
#pragma unroll
  for (int c = 0; c < 8; ++c) out[t * 8 + c] = s.rows[c];
}

inline unsigned int blocks_for(int64_t work) { return static_cast<unsigned int>((work + kThreads - 1) / kThreads); }

inline cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

}  // namespace

void forward_cuda(const EncoderArgs& a, ConstTables tables, float* out, void* stream) {
  const int64_t work = a.n * a.n_levels;
  if (work == 0) return;
#define EARTH4D_CALL(F) \
  EARTH4D_LAUNCH(forward_kernel<F>, blocks_for(work), kThreads, as_stream(stream))(a, tables, out)
  EARTH4D_DISPATCH_FEATURES(a.features, EARTH4D_CALL)
#undef EARTH4D_CALL
}

void backward_tables_cuda(const EncoderArgs& a, const float* grad_out, Tables grad_tables, void* stream) {
  const int64_t work = a.n * a.n_levels;
  if (work == 0) return;
#define EARTH4D_CALL(F) \
  EARTH4D_LAUNCH(backward_tables_kernel<F>, blocks_for(work), kThreads, as_stream(stream)) \
  (a, grad_out, grad_tables)
  EARTH4D_DISPATCH_FEATURES(a.features, EARTH4D_CALL)
#undef EARTH4D_CALL
}

void backward_coords_cuda(const EncoderArgs& a, ConstTables tables, const float* grad_out, double* grad_coords,
                          void* stream) {
  if (a.n == 0) return;
#define EARTH4D_CALL(F) \
  EARTH4D_LAUNCH(backward_coords_kernel<F>, blocks_for(a.n), kThreads, as_stream(stream)) \
  (a, tables, grad_out, grad_coords)
  EARTH4D_DISPATCH_FEATURES(a.features, EARTH4D_CALL)
#undef EARTH4D_CALL
}

void indices_cuda(const EncoderArgs& a, int64_t* out, void* stream) {
  const int64_t work = a.n * a.n_levels;
  if (work == 0) return;
  EARTH4D_LAUNCH(indices_kernel, blocks_for(work), kThreads, as_stream(stream))(a, out);
}

}  // namespace earth4d
