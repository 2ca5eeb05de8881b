// Torch-free entry points of the Earth4D hash-grid kernels (CPU: hashgrid_cpu.cpp, CUDA: hashgrid_cuda.cu).
#pragma once

#include <cstdint>

#include "hashgrid_math.h"

namespace earth4d {

constexpr int kMaxGrids = 4;

// All grids of an encoder at once. Levels are numbered across grids in output order; level l of the
// output occupies columns [l * features, (l + 1) * features). Arrays are contiguous: coords [n, 4]
// float64, each table [rows, features] float32, out and grad_out [n, n_levels * features] float32,
// indices [n, n_levels, 8] int64. `levels` points to n_levels LevelInfo in the kernel's memory space.
struct EncoderArgs {
  const double* coords;
  int64_t n;
  const LevelInfo* levels;
  int n_levels;
  int features;
  bool smoothstep;
};

struct ConstTables {
  const float* table[kMaxGrids];
};

struct Tables {
  float* table[kMaxGrids];
};

void forward_cpu(const EncoderArgs& args, ConstTables tables, float* out);
// The CPU table gradient fills the gradient tables completely (they need not be zeroed).
void backward_tables_cpu(const EncoderArgs& args, const float* grad_out, Tables grad_tables);
void backward_coords_cpu(const EncoderArgs& args, ConstTables tables, const float* grad_out, double* grad_coords);
void indices_cpu(const EncoderArgs& args, int64_t* out);

// Calls `call(F)` with the compile-time feature count F (1, 2, 4 or 8) equal to `features`; the kernels
// are templates on F, and the Python side only builds configurations with these counts.
#define EARTH4D_DISPATCH_FEATURES(features, call) \
  switch (features) {                             \
    case 1: call(1); break;                       \
    case 2: call(2); break;                       \
    case 4: call(4); break;                       \
    case 8: call(8); break;                       \
    default: break;                               \
  }

// CUDA versions: device pointers, launched on `stream` (a cudaStream_t passed as void*).
void forward_cuda(const EncoderArgs& args, ConstTables tables, float* out, void* stream);
void backward_tables_cuda(const EncoderArgs& args, const float* grad_out, Tables grad_tables, void* stream);
void backward_coords_cuda(const EncoderArgs& args, ConstTables tables, const float* grad_out, double* grad_coords,
                          void* stream);
void indices_cuda(const EncoderArgs& args, int64_t* out, void* stream);

}  // namespace earth4d
