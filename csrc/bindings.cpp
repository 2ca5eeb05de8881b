// The one file that talks to torch: checks tensors, builds EncoderArgs, calls the CPU or CUDA kernels.
#include <torch/extension.h>

#include <vector>

#include "hashgrid_kernels.h"
#include "host_buffer_pool.h"

#ifdef EARTH4D_WITH_CUDA
// c10's headers only, not ATen/cuda/CUDAContext.h: that one includes cuBLAS and cuSPARSE headers, which a
// minimal CUDA toolkit (compiler and runtime) does not have.
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace {

using earth4d::EncoderArgs;

EncoderArgs make_args(const torch::Tensor& coords, const torch::Tensor& levels, int64_t features, bool smoothstep) {
  TORCH_CHECK(coords.dim() == 2 && coords.size(1) == 4, "coords must be [N, 4]");
  TORCH_CHECK(coords.scalar_type() == torch::kFloat64 && coords.is_contiguous(), "coords must be contiguous float64");
  TORCH_CHECK(levels.dim() == 2 && levels.size(1) == 9 && levels.scalar_type() == torch::kInt64 &&
                  levels.is_contiguous(),
              "levels must be a contiguous int64 [L, 9] tensor");
  TORCH_CHECK(levels.device() == coords.device(), "levels and coords must be on the same device");
  TORCH_CHECK(features == 1 || features == 2 || features == 4 || features == 8, "features must be 1, 2, 4 or 8");
  EncoderArgs a{};
  a.coords = coords.data_ptr<double>();
  a.n = coords.size(0);
  a.levels = reinterpret_cast<const earth4d::LevelInfo*>(levels.data_ptr<int64_t>());
  a.n_levels = static_cast<int>(levels.size(0));
  a.features = static_cast<int>(features);
  a.smoothstep = smoothstep;
  return a;
}

int64_t check_tables(const std::vector<torch::Tensor>& tables, const torch::Tensor& coords) {
  TORCH_CHECK(!tables.empty() && tables.size() <= earth4d::kMaxGrids, "1 to 4 tables");
  const int64_t features = tables[0].size(1);
  for (const auto& t : tables) {
    TORCH_CHECK(t.dim() == 2 && t.size(1) == features && t.scalar_type() == torch::kFloat32 && t.is_contiguous(),
                "tables must be contiguous float32 [rows, features] tensors");
    TORCH_CHECK(t.device() == coords.device(), "tables and coords must be on the same device");
  }
  return features;
}

earth4d::ConstTables const_tables(const std::vector<torch::Tensor>& tables) {
  earth4d::ConstTables out{};
  for (size_t g = 0; g < tables.size(); ++g) out.table[g] = tables[g].data_ptr<float>();
  return out;
}

#ifdef EARTH4D_WITH_CUDA
void* current_stream() { return static_cast<void*>(c10::cuda::getCurrentCUDAStream().stream()); }
#endif
// Each *_cuda call below launches one kernel and is followed by C10_CUDA_KERNEL_LAUNCH_CHECK(), so that a
// failed launch (no kernel image for this GPU, a bad configuration) is reported there, not by a later op.

// Freed CPU outputs kept for the next call of the same size: see the header. At most 8 buffers and
// 8 GiB, so that the seed-162d preset's 3.2 GB of table gradients are reused from step to step too.
// Never destroyed, as tensors may still hold its buffers while the interpreter exits.
earth4d::HostBufferPool& host_pool() {
  static auto* pool = new earth4d::HostBufferPool(8, size_t{8} << 30);
  return *pool;
}

// An uninitialised CPU tensor whose memory comes from (and returns to) the host buffer pool.
torch::Tensor pooled_empty(at::IntArrayRef sizes, const torch::TensorOptions& options) {
  int64_t numel = 1;
  for (const int64_t s : sizes) numel *= s;
  const size_t bytes = static_cast<size_t>(numel) * options.dtype().itemsize();
  void* ptr = host_pool().take(bytes);
  TORCH_CHECK(ptr != nullptr, "out of memory: could not allocate ", bytes, " bytes");
  return torch::from_blob(
      ptr, sizes, [bytes](void* p) { host_pool().give(p, bytes); }, options.device(torch::kCPU));
}

[[noreturn]] void no_cuda() { TORCH_CHECK(false, "this build of the Earth4D kernels has no CUDA support"); }

torch::Tensor forward(const torch::Tensor& coords, const std::vector<torch::Tensor>& tables,
                      const torch::Tensor& levels, bool smoothstep) {
  const int64_t features = check_tables(tables, coords);
  const EncoderArgs a = make_args(coords, levels, features, smoothstep);
  const std::vector<int64_t> shape = {a.n, a.n_levels * features};
  auto out = coords.is_cuda() ? torch::empty(shape, tables[0].options()) : pooled_empty(shape, tables[0].options());
  if (coords.is_cuda()) {
#ifdef EARTH4D_WITH_CUDA
    const c10::cuda::CUDAGuard guard(coords.device());
    earth4d::forward_cuda(a, const_tables(tables), out.data_ptr<float>(), current_stream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
#else
    no_cuda();
#endif
  } else {
    earth4d::forward_cpu(a, const_tables(tables), out.data_ptr<float>());
  }
  return out;
}

// Returns the tables' gradients followed by the coordinates' (undefined unless asked for).
std::vector<torch::Tensor> backward(const torch::Tensor& grad_out, const torch::Tensor& coords,
                                    const std::vector<torch::Tensor>& tables, const torch::Tensor& levels,
                                    bool smoothstep, bool need_coords_grad) {
  const int64_t features = check_tables(tables, coords);
  const EncoderArgs a = make_args(coords, levels, features, smoothstep);
  TORCH_CHECK(grad_out.scalar_type() == torch::kFloat32 && grad_out.is_contiguous() && grad_out.dim() == 2 &&
                  grad_out.size(0) == a.n && grad_out.size(1) == a.n_levels * features,
              "grad_out must be a contiguous float32 [N, levels * features] tensor");
  TORCH_CHECK(grad_out.device() == coords.device(), "grad_out is on ", grad_out.device(), " but coords are on ",
              coords.device());
  std::vector<torch::Tensor> grads;
  earth4d::Tables grad_tables{};
  for (size_t g = 0; g < tables.size(); ++g) {
    grads.push_back(coords.is_cuda() ? torch::zeros_like(tables[g]) : pooled_empty(tables[g].sizes(), tables[g].options()));
    grad_tables.table[g] = grads.back().data_ptr<float>();
  }
  auto grad_coords = need_coords_grad ? torch::zeros_like(coords) : torch::Tensor();
  if (coords.is_cuda()) {
#ifdef EARTH4D_WITH_CUDA
    const c10::cuda::CUDAGuard guard(coords.device());
    earth4d::backward_tables_cuda(a, grad_out.data_ptr<float>(), grad_tables, current_stream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    if (need_coords_grad) {
      earth4d::backward_coords_cuda(a, const_tables(tables), grad_out.data_ptr<float>(),
                                    grad_coords.data_ptr<double>(), current_stream());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
#else
    no_cuda();
#endif
  } else {
    earth4d::backward_tables_cpu(a, grad_out.data_ptr<float>(), grad_tables);
    if (need_coords_grad) {
      earth4d::backward_coords_cpu(a, const_tables(tables), grad_out.data_ptr<float>(),
                                   grad_coords.data_ptr<double>());
    }
  }
  grads.push_back(grad_coords);
  return grads;
}

torch::Tensor indices(const torch::Tensor& coords, const torch::Tensor& levels) {
  const EncoderArgs a = make_args(coords, levels, 1, false);
  auto out = torch::empty({a.n, a.n_levels, 8}, coords.options().dtype(torch::kInt64));
  if (coords.is_cuda()) {
#ifdef EARTH4D_WITH_CUDA
    const c10::cuda::CUDAGuard guard(coords.device());
    earth4d::indices_cuda(a, out.data_ptr<int64_t>(), current_stream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
#else
    no_cuda();
#endif
  } else {
    earth4d::indices_cpu(a, out.data_ptr<int64_t>());
  }
  return out;
}

// Frees the pooled host buffers no tensor holds; returns the bytes that were cached.
int64_t release_host_buffers() {
  const auto cached = static_cast<int64_t>(host_pool().cached_bytes());
  host_pool().trim(0, 0);
  return cached;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Earth4D multiresolution hash-grid kernels";
  m.def("forward", &forward, "features of all grids [N, levels * features]");
  m.def("backward", &backward, "gradients: one per table, then the coordinates' (None unless asked)");
  m.def("indices", &indices, "table rows of each point's 8 corners per level [N, levels, 8]");
  m.def("release_host_buffers", &release_host_buffers, "free the cached host buffers; bytes that were cached");
}
