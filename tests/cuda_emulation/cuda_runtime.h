// Host emulation of the little of CUDA that csrc/hashgrid_cuda.cu uses, so that g++ compiles its
// kernels unchanged and runs them on the CPU (tests/test_cuda_emulation.py). It stands in for CUDA's
// <cuda_runtime.h> by coming first on the include path.
//
// A launch runs every (block, thread) of the grid one after another, in a shuffled order, which stands
// in for the unspecified order of the GPU's threads and of their atomicAdd calls. That is exact for
// kernels without shared memory, warp intrinsics or __syncthreads(); none of those is defined here, so
// a kernel that starts using one fails to compile in the emulation instead of being tested wrongly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
};
using uint3 = dim3;

// The running thread's coordinates, as CUDA's built-in variables (one-dimensional launches only).
inline thread_local uint3 blockIdx, threadIdx;
inline thread_local dim3 blockDim, gridDim;

typedef struct CUstream_st* cudaStream_t;

inline float atomicAdd(float* address, float value) {
  const float old = *address;
  *address = old + value;
  return old;
}

template <typename T>
inline T __ldg(const T* address) {
  return *address;
}

namespace cuda_emulation {

// Each launch gets its own permutation, the same from run to run.
inline std::mt19937_64& launch_rng() {
  static std::mt19937_64 rng(20240613);
  return rng;
}

// EARTH4D_LAUNCH(kernel, blocks, threads, stream)(args...): every thread of the grid, serially, shuffled.
template <typename Kernel>
auto launch(Kernel kernel, unsigned int blocks, unsigned int threads, cudaStream_t /*stream*/) {
  return [=](const auto&... args) {
    std::vector<uint64_t> order(static_cast<size_t>(blocks) * threads);
    std::iota(order.begin(), order.end(), uint64_t{0});
    std::shuffle(order.begin(), order.end(), launch_rng());
    gridDim.x = blocks;
    blockDim.x = threads;
    for (const uint64_t flat : order) {
      blockIdx.x = static_cast<unsigned int>(flat / threads);
      threadIdx.x = static_cast<unsigned int>(flat % threads);
      kernel(args...);
    }
  };
}

}  // namespace cuda_emulation

#define EARTH4D_LAUNCH(kernel, blocks, threads, stream) ::cuda_emulation::launch(kernel, (blocks), (threads), (stream))
