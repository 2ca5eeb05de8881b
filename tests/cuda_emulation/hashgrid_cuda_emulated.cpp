// csrc/hashgrid_cuda.cu compiled by g++ against the host emulation in this folder's cuda_runtime.h, with
// a plain C interface for ctypes (tests/test_cuda_emulation.py): no torch headers, so it builds in seconds.
// "Device" pointers are host pointers here. Arguments mirror bindings.cpp's make_args / const_tables.
#include "hashgrid_cuda.cu"

namespace {

earth4d::EncoderArgs make_args(const double* coords, int64_t n, const int64_t* levels, int n_levels,
                               int features, int smoothstep) {
  earth4d::EncoderArgs a{};
  a.coords = coords;
  a.n = n;
  a.levels = reinterpret_cast<const earth4d::LevelInfo*>(levels);
  a.n_levels = n_levels;
  a.features = features;
  a.smoothstep = smoothstep != 0;
  return a;
}

template <typename Tables, typename T>
Tables tables_of(T* const* tables, int n_tables) {
  Tables out{};
  for (int g = 0; g < n_tables && g < earth4d::kMaxGrids; ++g) out.table[g] = tables[g];
  return out;
}

}  // namespace

extern "C" {

void emulated_forward(const double* coords, int64_t n, const int64_t* levels, int n_levels, int features,
                      int smoothstep, const float* const* tables, int n_tables, float* out) {
  earth4d::forward_cuda(make_args(coords, n, levels, n_levels, features, smoothstep),
                        tables_of<earth4d::ConstTables>(tables, n_tables), out, nullptr);
}

// grad_tables must be zeroed, as bindings.cpp's CUDA path does: the kernel accumulates into them.
void emulated_backward_tables(const double* coords, int64_t n, const int64_t* levels, int n_levels, int features,
                              int smoothstep, const float* grad_out, float* const* grad_tables, int n_tables) {
  earth4d::backward_tables_cuda(make_args(coords, n, levels, n_levels, features, smoothstep), grad_out,
                                tables_of<earth4d::Tables>(grad_tables, n_tables), nullptr);
}

void emulated_backward_coords(const double* coords, int64_t n, const int64_t* levels, int n_levels, int features,
                              int smoothstep, const float* const* tables, int n_tables, const float* grad_out,
                              double* grad_coords) {
  earth4d::backward_coords_cuda(make_args(coords, n, levels, n_levels, features, smoothstep),
                                tables_of<earth4d::ConstTables>(tables, n_tables), grad_out, grad_coords, nullptr);
}

void emulated_indices(const double* coords, int64_t n, const int64_t* levels, int n_levels, int64_t* out) {
  earth4d::indices_cuda(make_args(coords, n, levels, n_levels, 1, 0), out, nullptr);
}

}  // extern "C"
