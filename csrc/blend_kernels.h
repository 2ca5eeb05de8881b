// Torch-free entry point of the fused neighbour blend at inference (blend_cpu.cpp): the same numbers as
// earth4d_gis.neighbours.NeighbourBlend (ReLU) with its pair features, in one pass per query.
#pragma once

#include <cstdint>

namespace earth4d {

constexpr int kBlendDim = 64;             // embedding bands
constexpr int kBlendPairFeatures = 7;     // attention inputs per neighbour (neighbours.PAIR_FEATURES)
constexpr int kBlendGateFeatures = 6;     // gate inputs per query (neighbours.GATE_FEATURES)
constexpr int kBlendWidth = 32;           // hidden width of the attention and gate MLPs
constexpr int kBlendMaxNeighbours = 256;  // neighbours per query (k + 1), at most

// Arrays are contiguous. Per query: field [n, 64], idx [n, k] (bank rows), dist [n, k] (metres),
// height [n] (metres), time [n] (encoder time coordinate). Per bank row: codes [rows, 64] (embeddings
// times 127), norms [rows] (the codes' lengths), bank_height, bank_time [rows]. The MLP weights are
// transposed to [inputs, width] so that each layer is a sum of scaled weight rows.
struct BlendArgs {
  int64_t n;
  int k;
  const float* field;
  const int64_t* idx;
  const float* dist;
  const float* height;
  const float* time;
  const int8_t* codes;
  const float* norms;
  const float* bank_height;
  const float* bank_time;
  float years;  // the model's time span in years: time coordinate differences -> years
  const float* att_w1t;
  const float* att_b1;
  const float* att_w2t;
  const float* att_b2;
  const float* att_w3;
  float att_b3;
  const float* gate_w1t;
  const float* gate_b1;
  const float* gate_w2;
  float gate_b2;
};

// out [n, 64]: field + gate * (softmax-weighted neighbour embeddings - field), as the module computes.
void blend_cpu(const BlendArgs& args, float* out);

}  // namespace earth4d
