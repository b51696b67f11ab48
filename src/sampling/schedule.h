// The video (WMA) noise schedule: upstream's `DDPM.register_schedule` (src/unifolm_wma/models/ddpms.py),
// `make_beta_schedule('linear')` and `rescale_zero_terminal_snr` (src/unifolm_wma/utils/diffusion.py), and the
// dynamic-rescale `scale_arr` of `LatentDiffusion.__init__`. Math in float64 like numpy, stored float32.
#pragma once

#include <optional>
#include <vector>

namespace wma::sampling {

struct VideoScheduleConfig {
  int num_timesteps = 1000;
  double linear_start = 0.00085;
  double linear_end = 0.012;
  bool rescale_zero_terminal_snr = true;
  bool use_dynamic_rescale = true;
  double base_scale = 0.7;
  int turning_step = 400;
};

// The registered buffers, float32 as upstream stores them.
struct VideoSchedule {
  std::vector<float> betas;
  std::vector<float> alphas_cumprod;
  std::vector<float> alphas_cumprod_prev;
  std::vector<float> sqrt_alphas_cumprod;
  std::vector<float> sqrt_one_minus_alphas_cumprod;
  // turning_step + num_timesteps long; empty without dynamic rescale.
  std::vector<float> scale_arr;

  int num_timesteps() const { return static_cast<int>(alphas_cumprod.size()); }
};

// Checkpoint buffers. Upstream loads the state dict after register_schedule, so a stored buffer replaces the
// computed one; each present vector must have the computed one's length.
struct VideoScheduleBuffers {
  std::optional<std::vector<float>> betas;
  std::optional<std::vector<float>> alphas_cumprod;
  std::optional<std::vector<float>> alphas_cumprod_prev;
  std::optional<std::vector<float>> sqrt_alphas_cumprod;
  std::optional<std::vector<float>> sqrt_one_minus_alphas_cumprod;
  std::optional<std::vector<float>> scale_arr;
};

// Betas linear in sqrt (float64, torch.linspace's two-sided fill), optionally rescaled to zero terminal SNR.
std::vector<double> scaled_linear_betas(int num_timesteps, double linear_start, double linear_end);
std::vector<double> rescale_zero_terminal_snr(const std::vector<double>& betas);

// np.linspace(1.0, base_scale, turning_step) followed by num_timesteps copies of base_scale, as float32.
std::vector<float> dynamic_rescale_scale_arr(int num_timesteps, double base_scale, int turning_step);

VideoSchedule make_video_schedule(const VideoScheduleConfig& config, const VideoScheduleBuffers& checkpoint = {});

}  // namespace wma::sampling
