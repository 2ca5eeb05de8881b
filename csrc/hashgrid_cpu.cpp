// CPU (OpenMP) kernels. Forward and the coordinate gradient run in parallel over points; the table
// gradient runs in parallel over levels, whose rows are disjoint, so it needs no atomics.
//
// The tables are far larger than the caches and every lookup is a random read, so the loops work one
// level at a time over many points (that level's table stays in cache) and compute each point's
// corner rows a few points ahead, prefetching them, so that the reads' latency overlaps with work.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "hashgrid_kernels.h"

namespace earth4d {
namespace {
// The range of points thread `t` of `threads` handles.
inline void thread_range(int64_t n, int t, int threads, int64_t* begin, int64_t* end) {
  *begin = n * t / threads;
  *end = n * (t + 1) / threads;
}

// How many points ahead the loops compute stencils and prefetch their table rows: enough to cover
// the latency of the last-level cache with a few points' worth of work.
constexpr int64_t kAhead = 8;

// Stencils of one level for the current point and the kAhead points after it, by point modulo kRing.
constexpr int64_t kRing = 2 * kAhead;
struct StencilRing {
  Stencil slot[kRing];

  void fill(const EncoderArgs& a, const LevelInfo& lv, int64_t i, const float* table, int features, bool write) {
    double pos[3];
    level_position(a.coords + i * 4, lv, pos);
    Stencil& s = slot[i % kRing];
    make_stencil(lv, pos, a.smoothstep, &s);
    for (int c = 0; c < 8; ++c) {
      if (write) {
        __builtin_prefetch(table + s.rows[c] * features, 1, 1);
      } else {
        __builtin_prefetch(table + s.rows[c] * features, 0, 1);
      }
    }
  }

  const Stencil& at(int64_t i) const { return slot[i % kRing]; }
};

// Stencils of every level for one point, with their corner rows prefetched.
template <int F>
inline void point_stencils(const EncoderArgs& a, const ConstTables& tables, int64_t i, Stencil* out) {
  const double* point = a.coords + i * 4;
  for (int l = 0; l < a.n_levels; ++l) {
    const LevelInfo& lv = a.levels[l];
    double pos[3];
    level_position(point, lv, pos);
    make_stencil(lv, pos, a.smoothstep, &out[l]);
    const float* table = tables.table[lv.grid];
    for (int c = 0; c < 8; ++c) __builtin_prefetch(table + out[l].rows[c] * F, 0, 1);
  }
}

// dst[f] += w * src[f] for one row of F features, four lanes at a time where F allows (GCC/Clang vector
// extensions: SSE on any x86-64, NEON on ARM); the compiler cannot vectorise it by itself because it must
// assume that dst and src overlap.
typedef float Lanes4 __attribute__((vector_size(16)));

template <int F>
inline void add_scaled(float* dst, float w, const float* src) {
  if constexpr (F % 4 == 0) {
    for (int f = 0; f < F; f += 4) {
      Lanes4 d, s;
      std::memcpy(&d, dst + f, sizeof(d));
      std::memcpy(&s, src + f, sizeof(s));
      d += w * s;
      std::memcpy(dst + f, &d, sizeof(d));
    }
  } else {
    for (int f = 0; f < F; ++f) dst[f] += w * src[f];
  }
}

// Points per thread encoded level by level before their results are transposed into the output
// (the level-major scratch of a chunk then stays in the core's L2 cache).
constexpr int64_t kChunk = 2048;

// Each thread takes chunks of its points level by level, so that one level's table stays in the
// core's cache while all the chunk's lookups in it happen; results go to a level-major scratch
// buffer, then are transposed into the row-major output.
template <int F>
void forward_impl(const EncoderArgs& a, ConstTables tables, float* out) {
  const int64_t width = static_cast<int64_t>(a.n_levels) * F;
#pragma omp parallel
  {
    int64_t begin, end;
    thread_range(a.n, omp_get_thread_num(), omp_get_num_threads(), &begin, &end);
    const int64_t chunk = std::min(kChunk, end - begin);
    std::unique_ptr<float[]> scratch(new float[static_cast<size_t>(std::max<int64_t>(chunk, 0) * width)]);
    for (int64_t first = begin; first < end; first += chunk) {
      const int64_t count = std::min(chunk, end - first);
      for (int l = 0; l < a.n_levels; ++l) {
        const LevelInfo lv = a.levels[l];
        const float* table = tables.table[lv.grid];
        float* level_out = scratch.get() + static_cast<int64_t>(l) * count * F;
        StencilRing ring;
        for (int64_t k = 0; k < std::min(count, kAhead); ++k) ring.fill(a, lv, first + k, table, F, false);
        for (int64_t k = 0; k < count; ++k) {
          if (k + kAhead < count) ring.fill(a, lv, first + k + kAhead, table, F, false);
          const Stencil& cur = ring.at(first + k);
          float acc[F] = {};
          for (int c = 0; c < 8; ++c) add_scaled<F>(acc, cur.weight[c], table + cur.rows[c] * F);
          std::memcpy(level_out + k * F, acc, sizeof(acc));
        }
      }
      for (int64_t k = 0; k < count; ++k) {
        float* row_out = out + (first + k) * width;
        for (int l = 0; l < a.n_levels; ++l) {
          const float* src = scratch.get() + (static_cast<int64_t>(l) * count + k) * F;
          for (int f = 0; f < F; ++f) row_out[l * F + f] = src[f];
        }
      }
    }
  }
}

// out[l][i][:] = in[i][l][:] for features of F floats: a cache-blocked transpose, parallel over points.
template <int F>
void transpose_to_levels(const float* in, int64_t n, int n_levels, float* out) {
  constexpr int64_t kBlock = 32;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t stop = std::min(n, b + kBlock);
    for (int l = 0; l < n_levels; ++l) {
      float* dst = out + (static_cast<int64_t>(l) * n + b) * F;
      const float* src = in + b * n_levels * F + l * F;
      for (int64_t i = 0; i < stop - b; ++i) {
        for (int f = 0; f < F; ++f) dst[i * F + f] = src[i * n_levels * F + f];
      }
    }
  }
}

// grad_by_level is the output gradient transposed to [levels, n, F], so each level reads it in order.
template <int F>
void backward_tables_impl(const EncoderArgs& a, const float* grad_by_level, Tables grad_tables) {
#pragma omp parallel for schedule(dynamic, 1)
  for (int l = 0; l < a.n_levels; ++l) {
    const LevelInfo lv = a.levels[l];
    float* grad_table = grad_tables.table[lv.grid];
    std::memset(grad_table + lv.offset * F, 0, sizeof(float) * F * level_rows(lv));
    const float* g = grad_by_level + static_cast<int64_t>(l) * a.n * F;
    StencilRing ring;
    for (int64_t i = 0; i < std::min(a.n, kAhead); ++i) ring.fill(a, lv, i, grad_table, F, true);
    for (int64_t i = 0; i < a.n; ++i) {
      if (i + kAhead < a.n) ring.fill(a, lv, i + kAhead, grad_table, F, true);
      const Stencil& cur = ring.at(i);
      const float* gi = g + i * F;
      for (int c = 0; c < 8; ++c) add_scaled<F>(grad_table + cur.rows[c] * F, cur.weight[c], gi);
    }
  }
}

template <int F>
void backward_coords_impl(const EncoderArgs& a, ConstTables tables, const float* grad_out, double* grad_coords) {
  const int64_t width = static_cast<int64_t>(a.n_levels) * F;
#pragma omp parallel
  {
    int64_t begin, end;
    thread_range(a.n, omp_get_thread_num(), omp_get_num_threads(), &begin, &end);
    std::vector<Stencil> current(a.n_levels), next(a.n_levels);
    if (begin < end) point_stencils<F>(a, tables, begin, current.data());
    for (int64_t i = begin; i < end; ++i) {
      if (i + 1 < end) point_stencils<F>(a, tables, i + 1, next.data());
      double acc[4] = {0.0, 0.0, 0.0, 0.0};
      for (int l = 0; l < a.n_levels; ++l) {
        const LevelInfo& lv = a.levels[l];
        const Stencil& s = current[l];
        const float* table = tables.table[lv.grid];
        const float* g = grad_out + i * width + l * F;
        float dl[3] = {0.0f, 0.0f, 0.0f};
        for (int c = 0; c < 8; ++c) {
          const float* v = table + s.rows[c] * F;
          float dot = 0.0f;
          for (int f = 0; f < F; ++f) dot += g[f] * v[f];
          for (int d = 0; d < 3; ++d) dl[d] += dot * weight_derivative(s, c, d);
        }
        for (int d = 0; d < 3; ++d) acc[lv.axes[d]] += static_cast<double>(dl[d]) * static_cast<double>(lv.res[d]);
      }
      for (int d = 0; d < 4; ++d) grad_coords[i * 4 + d] = acc[d];
      std::swap(current, next);
    }
  }
}

}  // namespace

void forward_cpu(const EncoderArgs& args, ConstTables tables, float* out) {
#define EARTH4D_CALL(F) forward_impl<F>(args, tables, out)
  EARTH4D_DISPATCH_FEATURES(args.features, EARTH4D_CALL)
#undef EARTH4D_CALL
}

void backward_tables_cpu(const EncoderArgs& args, const float* grad_out, Tables grad_tables) {
  // Kept between calls (per calling thread): a fresh buffer of this size costs page faults each time.
  thread_local std::vector<float> grad_by_level;
  grad_by_level.resize(static_cast<size_t>(args.n) * args.n_levels * args.features);
#define EARTH4D_CALL(F)                                                             \
  transpose_to_levels<F>(grad_out, args.n, args.n_levels, grad_by_level.data()); \
  backward_tables_impl<F>(args, grad_by_level.data(), grad_tables)
  EARTH4D_DISPATCH_FEATURES(args.features, EARTH4D_CALL)
#undef EARTH4D_CALL
}

void backward_coords_cpu(const EncoderArgs& args, ConstTables tables, const float* grad_out, double* grad_coords) {
#define EARTH4D_CALL(F) backward_coords_impl<F>(args, tables, grad_out, grad_coords)
  EARTH4D_DISPATCH_FEATURES(args.features, EARTH4D_CALL)
#undef EARTH4D_CALL
}

void indices_cpu(const EncoderArgs& a, int64_t* out) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < a.n; ++i) {
    for (int l = 0; l < a.n_levels; ++l) {
      double pos[3];
      level_position(a.coords + i * 4, a.levels[l], pos);
      Stencil s;
      make_stencil(a.levels[l], pos, a.smoothstep, &s);
      std::memcpy(out + (i * a.n_levels + l) * 8, s.rows, sizeof(s.rows));
    }
  }
}

}  // namespace earth4d
