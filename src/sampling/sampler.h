// What every sampler shares: the three chains one denoiser call advances together (the video latent, the
// actions, the states), the denoiser as a callback, and the choice of solver (--sampler). Each solver is a free
// function over these (ddim_sampler.h, dpm_solver.h, unipc.h) that does its update with device ops, so the
// CUDA path stays on the device and the denoiser call remains the only thing a graph captures.
#pragma once

#include <functional>
#include <string_view>

#include "core/tensor.h"

namespace wma::sampling {

// ddim: upstream's DDIMSampler (eta as given). dpmpp_2m: DPM-Solver++(2M), multistep, data prediction.
// unipc: UniPC with the B(h) = e^h - 1 ("bh2") corrector and predictor, order 2. The last two are ODE
// solvers: deterministic, with no eta.
enum class SamplerKind { Ddim, DpmSolverPP2M, UniPC };

SamplerKind parse_sampler(std::string_view name);  // "ddim" | "dpmpp_2m" | "unipc"
std::string_view sampler_name(SamplerKind kind);

// Channels-last video latent [B, T, h, w, C], actions and states [B, horizon, dim], all f32 on one device.
struct JointSample {
  Tensor video, actions, states;
};

// The denoiser's outputs for a JointSample: the video's v-prediction and the heads' epsilon.
struct JointPrediction {
  Tensor v, action_eps, state_eps;
};

// The model evaluated on `sample` at evaluation k (0 = the noisiest timestep). The outputs need to stay
// valid only until the next call: every sampler reads them before calling again.
using Denoise = std::function<JointPrediction(const JointSample& sample, int k)>;
// Called after step k with the chains' new values (a progress bar, or a test reading every step).
using StepObserver = std::function<void(int k, const JointSample& sample)>;

}  // namespace wma::sampling
