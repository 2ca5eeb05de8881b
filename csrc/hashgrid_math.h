// Earth4D hash-grid math shared by the CPU and CUDA kernels: cell/fraction split, vertex index
// (dense row-major or XOR hash), and interpolation weights. Torch-free so `nvcc -c` can check it.
//
// All index arithmetic is 64-bit: the original Earth4D's uint32 strides silently dropped axes.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define E4D_HD __host__ __device__ __forceinline__
#else
#define E4D_HD inline
#endif

namespace earth4d {

constexpr uint64_t kPrime1 = 2654435761ULL;
constexpr uint64_t kPrime2 = 805459861ULL;

// Per-level constants, as the kernels read them: nine int64, the layout of one row of the
// int64 [levels, 9] tensor the Python side builds.
struct LevelInfo {
  int64_t res[3];       // cells across each of the grid's three axes
  int64_t offset;       // first row of the level in its grid's table
  int64_t hashed_rows;  // table rows (a power of two) of a hashed level; 0 for a dense (row-major) level
  int64_t axes[3];      // input columns (0..3 = x, y, z, t) of the grid's axes
  int64_t grid;         // which table (0..3 = xyz, xyt, yzt, xzt)
};
static_assert(sizeof(LevelInfo) == 9 * sizeof(int64_t), "LevelInfo must match the [levels, 9] tensor");

// Splits a coordinate in [0, 1] into an integer cell and the fraction within it, in float64.
// The point pos == 1 falls into the last cell with fraction 1.
E4D_HD void cell_fraction(double pos, int64_t n, int64_t* cell, double* frac) {
  // Truncation is floor for the non-negative values it is applied to, and avoids a libm call.
  const double scaled = pos * static_cast<double>(n);
  int64_t c = scaled > 0.0 ? static_cast<int64_t>(scaled) : 0;
  if (c > n - 1) c = n - 1;
  *cell = c;
  *frac = scaled - static_cast<double>(c);
}

// Per-axis parts of the 8 corners' indices: part[d][b] for the vertex c_d + b along axis d.
// A dense level combines them by addition (row-major strides), a hashed one by XOR.
E4D_HD void axis_parts(const LevelInfo& lv, const int64_t cell[3], uint64_t part[3][2]) {
  if (lv.hashed_rows == 0) {
    const uint64_t stride1 = static_cast<uint64_t>(lv.res[0] + 1);
    const uint64_t stride2 = stride1 * static_cast<uint64_t>(lv.res[1] + 1);
    const uint64_t strides[3] = {1ULL, stride1, stride2};
    for (int d = 0; d < 3; ++d) {
      part[d][0] = static_cast<uint64_t>(cell[d]) * strides[d];
      part[d][1] = static_cast<uint64_t>(cell[d] + 1) * strides[d];
    }
  } else {
    const uint64_t primes[3] = {1ULL, kPrime1, kPrime2};
    for (int d = 0; d < 3; ++d) {
      part[d][0] = static_cast<uint64_t>(cell[d]) * primes[d];
      part[d][1] = static_cast<uint64_t>(cell[d] + 1) * primes[d];
    }
  }
}

// Table rows a level occupies.
E4D_HD int64_t level_rows(const LevelInfo& lv) {
  return lv.hashed_rows != 0 ? lv.hashed_rows : (lv.res[0] + 1) * (lv.res[1] + 1) * (lv.res[2] + 1);
}

// Weight of the upper vertex along an axis and its derivative with respect to the fraction.
E4D_HD void axis_weight(float frac, bool smoothstep, float* w, float* dw) {
  if (smoothstep) {
    *w = frac * frac * (3.0f - 2.0f * frac);
    *dw = 6.0f * frac * (1.0f - frac);
  } else {
    *w = frac;
    *dw = 1.0f;
  }
}

// The level's three coordinates of a point (a row of the float64 [n, 4] input).
E4D_HD void level_position(const double* point, const LevelInfo& lv, double pos[3]) {
  pos[0] = point[lv.axes[0]];
  pos[1] = point[lv.axes[1]];
  pos[2] = point[lv.axes[2]];
}

// Everything one point needs at one level: corner rows and trilinear weights.
struct Stencil {
  int64_t rows[8];
  float weight[8];
  float w_up[3];   // upper-vertex weight per axis
  float dw_up[3];  // its derivative with respect to the fraction
};

E4D_HD void make_stencil(const LevelInfo& lv, const double pos[3], bool smoothstep, Stencil* s) {
  int64_t cell[3];
  for (int d = 0; d < 3; ++d) {
    double frac;
    cell_fraction(pos[d], lv.res[d], &cell[d], &frac);
    axis_weight(static_cast<float>(frac), smoothstep, &s->w_up[d], &s->dw_up[d]);
  }
  uint64_t part[3][2];
  axis_parts(lv, cell, part);
  // Corners 0..3 span the first two axes; corners 4..7 repeat them at the upper vertex of the third.
  uint64_t low[4];
  if (lv.hashed_rows == 0) {
    for (int c = 0; c < 4; ++c) low[c] = part[0][c & 1] + part[1][c >> 1];
    for (int c = 0; c < 8; ++c) s->rows[c] = lv.offset + static_cast<int64_t>(low[c & 3] + part[2][c >> 2]);
  } else {
    const uint64_t mask = static_cast<uint64_t>(lv.hashed_rows - 1);  // modulo a power of two
    for (int c = 0; c < 4; ++c) low[c] = part[0][c & 1] ^ part[1][c >> 1];
    for (int c = 0; c < 8; ++c) s->rows[c] = lv.offset + static_cast<int64_t>((low[c & 3] ^ part[2][c >> 2]) & mask);
  }
  const float wx = s->w_up[0], wy = s->w_up[1], wz = s->w_up[2];
  const float wxy[4] = {(1.0f - wx) * (1.0f - wy), wx * (1.0f - wy), (1.0f - wx) * wy, wx * wy};
  for (int c = 0; c < 4; ++c) {
    s->weight[c] = wxy[c] * (1.0f - wz);
    s->weight[c + 4] = wxy[c] * wz;
  }
}

// d weight[corner] / d fraction along axis d.
E4D_HD float weight_derivative(const Stencil& s, int corner, int d) {
  float g = ((corner >> d) & 1) ? s.dw_up[d] : -s.dw_up[d];
  for (int e = 0; e < 3; ++e) {
    if (e != d) g *= ((corner >> e) & 1) ? s.w_up[e] : 1.0f - s.w_up[e];
  }
  return g;
}

}  // namespace earth4d
