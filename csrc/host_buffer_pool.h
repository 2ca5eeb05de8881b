// A small cache of freed host buffers for the CPU kernels' outputs (features, table gradients).
//
// Training asks for buffers of the same sizes every step. Fresh large allocations come from the
// operating system as untouched pages, and the first write to each 4 KiB page is a page fault: for
// the default preset at batch 65536 that was ~20 ms of a ~110 ms forward+backward. Keeping a few
// freed buffers and handing them out again for a request of the same size removes that cost, the
// way torch's CUDA caching allocator does on the GPU.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <iterator>
#include <list>
#include <mutex>
#include <utility>

namespace earth4d {

class HostBufferPool {
 public:
  // Keeps at most `max_buffers` freed buffers and `max_bytes` bytes; the oldest go first.
  HostBufferPool(size_t max_buffers, size_t max_bytes) : max_buffers_(max_buffers), max_bytes_(max_bytes) {}
  HostBufferPool(const HostBufferPool&) = delete;
  HostBufferPool& operator=(const HostBufferPool&) = delete;
  ~HostBufferPool() { trim(0, 0); }

  // A buffer of exactly `bytes` bytes (64-byte aligned; contents undefined), or nullptr when out of memory.
  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // The most recently freed match first: its pages are the likeliest to be in cache.
      for (auto it = free_.rbegin(); it != free_.rend(); ++it) {
        if (it->first == bytes) {
          void* ptr = it->second;
          cached_bytes_ -= bytes;
          free_.erase(std::next(it).base());
          return ptr;
        }
      }
    }
    const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    return std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
  }

  // Returns a buffer from `take` of `bytes` bytes; it is kept for reuse or freed.
  void give(void* ptr, size_t bytes) {
    if (ptr == nullptr) return;
    if (bytes > max_bytes_ || max_buffers_ == 0) {
      std::free(ptr);
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    free_.emplace_back(bytes, ptr);
    cached_bytes_ += bytes;
    trim_locked(max_buffers_, max_bytes_);
  }

  // Frees cached buffers until at most `buffers` and `bytes` remain.
  void trim(size_t buffers, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    trim_locked(buffers, bytes);
  }

  size_t cached_buffers() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return free_.size();
  }

  size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_bytes_;
  }

 private:
  static constexpr size_t kAlign = 64;

  void trim_locked(size_t buffers, size_t bytes) {
    while (!free_.empty() && (free_.size() > buffers || cached_bytes_ > bytes)) {
      cached_bytes_ -= free_.front().first;
      std::free(free_.front().second);
      free_.pop_front();
    }
  }

  const size_t max_buffers_;
  const size_t max_bytes_;
  mutable std::mutex mutex_;
  std::list<std::pair<size_t, void*>> free_;  // oldest first
  size_t cached_bytes_ = 0;
};

}  // namespace earth4d
