// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", algorithm 2: multistep, second order, data prediction),
// deterministic, as diffusers' DPMSolverMultistepScheduler computes it with algorithm_type="dpmsolver++",
// solver_order=2, solver_type="midpoint", final_sigmas_type="zero": the first step and the step to the clean
// level are first order (DDIM with eta 0), the others second order. One denoiser call per step.
#pragma once

#include "sampling/multistep.h"
#include "sampling/sampler.h"

namespace wma::sampling {

// The step from levels[k] to levels[k + 1]: x' = sample·x + data·D_k + previous·D_{k−1}, D the data
// predictions at levels k and k − 1.
struct MultistepUpdate {
  float sample = 0, data = 0, previous = 0;
};

// The order diffusers uses at step k of n: 1 for the first and the last, else 2.
int dpmpp_2m_order(int k, int n);
// Order 1: x' = (σ'/σ)·x + α'(1 − e^{−h})·D_k. Order 2 adds the midpoint term with r = h_{k−1}/h:
// D_k + (D_k − D_{k−1})/(2r). h = λ' − λ, λ = log(α/σ) of the signal coefficient α.
MultistepUpdate dpmpp_2m_update(std::span<const NoiseLevel> levels, int k, int order);

// That step for the three chains: x' from x, the data predictions at step k and those of step k − 1 (undefined
// at order 1). UniPC's predictor is this step too.
JointSample dpmpp_2m_step(const MultistepSchedule& schedule, int k, int order, const JointSample& x,
                          const JointSample& data, const JointSample& previous);

// The pass from x_T: N = schedule.num_steps() denoiser calls, each chain stepped at the same timesteps.
JointSample dpmpp_2m_sample(const MultistepSchedule& schedule, JointSample x_T, const Denoise& denoise,
                            const StepObserver& observe = {});

}  // namespace wma::sampling
