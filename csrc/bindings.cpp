// The one file that talks to torch: checks tensors, builds EncoderArgs, calls the CPU or CUDA kernels.
#include <torch/extension.h>

#include <vector>

#include "blend_kernels.h"
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

// A contiguous float32 CPU tensor of `shape`, or an error naming it.
const float* float_data(const torch::Tensor& t, at::IntArrayRef shape, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous() && t.sizes() == shape,
              name, " must be a contiguous float32 CPU tensor of shape ", shape, ", not ", t.sizes());
  return t.data_ptr<float>();
}

// The transpose [inputs, outputs] of a Linear layer's weight [outputs, inputs], contiguous float32.
torch::Tensor transposed(const torch::Tensor& weight, int64_t outputs, int64_t inputs, const char* name) {
  float_data(weight, {outputs, inputs}, name);
  return weight.t().contiguous();
}

// The fused blend at inference: see blend_kernels.h. Weights as the nn.Linear layers hold them.
torch::Tensor blend(const torch::Tensor& field, const torch::Tensor& idx, const torch::Tensor& dist,
                    const torch::Tensor& height, const torch::Tensor& time, const torch::Tensor& codes,
                    const torch::Tensor& norms, const torch::Tensor& bank_height, const torch::Tensor& bank_time,
                    double years, const std::vector<torch::Tensor>& attention, const std::vector<torch::Tensor>& gate) {
  using earth4d::kBlendDim;
  const int64_t n = field.size(0);
  const int64_t k = idx.dim() == 2 ? idx.size(1) : 0;
  const int64_t rows = codes.size(0);
  TORCH_CHECK(attention.size() == 6 && gate.size() == 4, "attention takes 3 weights and 3 biases, the gate 2 and 2");
  const int64_t width = earth4d::kBlendWidth;
  TORCH_CHECK(k >= 1 && k <= earth4d::kBlendMaxNeighbours, "1 to ", earth4d::kBlendMaxNeighbours,
              " neighbours per query, not ", k);
  TORCH_CHECK(idx.device().is_cpu() && idx.scalar_type() == torch::kInt64 && idx.is_contiguous() && idx.size(0) == n,
              "idx must be a contiguous int64 CPU tensor [n, k]");
  TORCH_CHECK(codes.device().is_cpu() && codes.scalar_type() == torch::kInt8 && codes.is_contiguous() &&
                  codes.dim() == 2 && codes.size(1) == kBlendDim,
              "codes must be a contiguous int8 CPU tensor [rows, 64]");
  TORCH_CHECK(idx.numel() == 0 || (idx.min().item<int64_t>() >= 0 && idx.max().item<int64_t>() < rows),
              "neighbour rows outside the bank of ", rows);
  const auto w1 = transposed(attention[0], width, earth4d::kBlendPairFeatures, "attention weight 1");
  const auto w2 = transposed(attention[2], width, width, "attention weight 2");
  const auto g1 = transposed(gate[0], width, earth4d::kBlendGateFeatures, "gate weight 1");
  earth4d::BlendArgs a{};
  a.n = n;
  a.k = static_cast<int>(k);
  a.field = float_data(field, {n, kBlendDim}, "field");
  a.idx = idx.data_ptr<int64_t>();
  a.dist = float_data(dist, {n, k}, "dist");
  a.height = float_data(height, {n}, "height");
  a.time = float_data(time, {n}, "time");
  a.codes = codes.data_ptr<int8_t>();
  a.norms = float_data(norms, {rows}, "norms");
  a.bank_height = float_data(bank_height, {rows}, "bank heights");
  a.bank_time = float_data(bank_time, {rows}, "bank times");
  a.years = static_cast<float>(years);
  a.att_w1t = w1.data_ptr<float>();
  a.att_b1 = float_data(attention[1], {width}, "attention bias 1");
  a.att_w2t = w2.data_ptr<float>();
  a.att_b2 = float_data(attention[3], {width}, "attention bias 2");
  a.att_w3 = float_data(attention[4], {1, width}, "attention weight 3");
  a.att_b3 = *float_data(attention[5], {1}, "attention bias 3");
  a.gate_w1t = g1.data_ptr<float>();
  a.gate_b1 = float_data(gate[1], {width}, "gate bias 1");
  a.gate_w2 = float_data(gate[2], {1, width}, "gate weight 2");
  a.gate_b2 = *float_data(gate[3], {1}, "gate bias 2");
  auto out = torch::empty({n, kBlendDim}, field.options());
  earth4d::blend_cpu(a, out.data_ptr<float>());
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
  m.def("forward", &forward, "features of all grids [N, levels * features]",
        py::call_guard<py::gil_scoped_release>());
  m.def("backward", &backward, "gradients: one per table, then the coordinates' (None unless asked)",
        py::call_guard<py::gil_scoped_release>());
  m.def("indices", &indices, "table rows of each point's 8 corners per level [N, levels, 8]",
        py::call_guard<py::gil_scoped_release>());
  m.def("blend", &blend, "the neighbour blend at inference, fused [n, 64]",
        py::call_guard<py::gil_scoped_release>());
  m.def("release_host_buffers", &release_host_buffers, "free the cached host buffers; bytes that were cached");
}
