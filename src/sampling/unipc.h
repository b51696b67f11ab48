// UniPC (Zhao et al. 2023) with B(h) = e^h − 1 ("bh2"), order 2, data prediction, deterministic, as diffusers'
// UniPCMultistepScheduler computes it (predict_x0, solver_order=2, lower_order_final, corrector at every step,
// final_sigmas_type="zero"). Each step first corrects the sample the previous step predicted (UniC, using the
// model output just computed at it, so the corrector costs no extra call), then predicts the next one (UniP).
// UniP-bh2 of order 1 and 2 is DPM-Solver++(2M)'s update (dpm_solver.h), which is reused.
#pragma once

#include "sampling/multistep.h"
#include "sampling/sampler.h"

namespace wma::sampling {

// The corrected sample at level k: x_k^c = sample·x_{k−1}^c + current·D_k + previous·D_{k−1} + older·D_{k−2},
// D_k the data prediction at the uncorrected x_k.
struct UniCorrection {
  float sample = 0, current = 0, previous = 0, older = 0;
};

// The predictor's order at step k of n: min(2, n − k, k + 1).
int unipc_order(int k, int n);
// UniC from levels[k − 1] to levels[k] of `order` (the order of the predictor step it corrects): order 1 with
// ρ = 1/2, order 2 with ρ solving diffusers' 2x2 system in r = (λ_{k−2} − λ_{k−1})/h.
UniCorrection unipc_correction(std::span<const NoiseLevel> levels, int k, int order);

JointSample unipc_sample(const MultistepSchedule& schedule, JointSample x_T, const Denoise& denoise,
                         const StepObserver& observe = {});

}  // namespace wma::sampling
