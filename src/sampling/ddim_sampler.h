// Upstream's sampling loop (DDIMSampler.ddim_sampling / p_sample_ddim, models/samplers/ddim.py): the video's
// v-prediction DDIM step with the dynamic rescale and eta-scaled noise, and the heads' diffusers DDIM step
// (eta 0, x0 clipped) at the same timesteps, all with device ops in the float32 order of the CPU references in
// ddim.h and diffusers_ddim.h, so the CPU backend reproduces them bit for bit.
#pragma once

#include <span>

#include "core/tensor.h"
#include "ops/params.h"
#include "sampling/ddim.h"
#include "sampling/diffusers_ddim.h"
#include "sampling/sampler.h"
#include "sampling/schedule.h"

namespace wma::sampling {

// One v-prediction DDIM step (p_sample_ddim) with device ops, equal to ddim_v_step on the CPU backend.
Tensor ddim_v_update(const DdimStepCoefficients& c, const Tensor& x, const Tensor& v, const Tensor& noise);
// The heads' scheduler step (diffusers_ddim_step) as the parameters of ops::eps_ddim_step.
ops::EpsDdimStep eps_ddim_step_op(const DiffusersDdimStepCoefficients& c, ScalarDivision division);

// The whole pass from `x_T`: step k evaluates the denoiser at ddim.timesteps[N-1-k] and adds
// step_noise[k] (video-shaped, any values when eta is 0) scaled by that step's sigma. `division`: how the
// heads' step divides (ScalarDivision; CUDA torch multiplies by the reciprocal).
JointSample ddim_sample(const VideoSchedule& video, const DdimSchedule& ddim, const DiffusersDdimScheduler& heads,
                        JointSample x_T, const Denoise& denoise, std::span<const Tensor> step_noise,
                        ScalarDivision division, const StepObserver& observe = {});

}  // namespace wma::sampling
