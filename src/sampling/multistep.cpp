#include "sampling/multistep.h"

#include <cmath>

#include "core/error.h"
#include "ops/ops.h"

namespace wma::sampling {

double NoiseLevel::lambda() const { return std::log(signal()) - std::log(sigma); }

std::vector<NoiseLevel> noise_levels(std::span<const float> alphas_cumprod, std::span<const float> scale_arr,
                                     std::span<const std::int64_t> timesteps) {
  const auto n_train = static_cast<std::int64_t>(alphas_cumprod.size());
  WMA_CHECK(!timesteps.empty(), "[sampling] a multistep pass needs at least one timestep");
  WMA_CHECK(scale_arr.empty() || static_cast<std::int64_t>(scale_arr.size()) >= n_train, "[sampling] scale_arr has ",
            scale_arr.size(), " entries for ", n_train, " timesteps");
  std::vector<NoiseLevel> levels;
  for (std::size_t k = 0; k < timesteps.size(); ++k) {
    const std::int64_t t = timesteps[k];
    WMA_CHECK(t >= 0 && t < n_train, "[sampling] timestep ", t, " outside the schedule [0, ", n_train, ")");
    WMA_CHECK(k == 0 || t < timesteps[k - 1], "[sampling] multistep timesteps must decrease, got ", timesteps[k - 1],
              " then ", t);
    const double a = alphas_cumprod[t] == 0.0f ? 0x1p-24 : static_cast<double>(alphas_cumprod[t]);
    levels.push_back({std::sqrt(a), std::sqrt(1.0 - a), scale_arr.empty() ? 1.0 : scale_arr[t]});
  }
  levels.push_back({1.0, 0.0, scale_arr.empty() ? 1.0 : scale_arr[0]});
  return levels;
}

MultistepSchedule make_multistep_schedule(const VideoSchedule& video, const DiffusersDdimScheduler& heads,
                                          std::vector<std::int64_t> timesteps) {
  MultistepSchedule s;
  s.video = noise_levels(video.alphas_cumprod, video.scale_arr, timesteps);
  s.heads = noise_levels(heads.alphas_cumprod, {}, timesteps);
  s.head_clip = heads.config.clip_sample;
  s.head_clip_range = heads.config.clip_sample_range;
  s.timesteps = std::move(timesteps);
  return s;
}

Tensor video_data_prediction(const NoiseLevel& level, const Tensor& x, const Tensor& v) {
  return ops::axpby(static_cast<float>(level.alpha / level.scale), x, static_cast<float>(-level.sigma / level.scale),
                    v);
}

Tensor head_data_prediction(const NoiseLevel& level, const Tensor& x, const Tensor& eps, bool clip, float clip_range) {
  ops::EpsDdimStep s;
  s.sqrt_beta_prod = static_cast<float>(level.sigma);
  s.sqrt_alpha_prod = static_cast<float>(level.alpha);
  s.inv_sqrt_alpha_prod = 1.0f / s.sqrt_alpha_prod;
  // 1·x0 + 0·eps: the op's DDIM recombination reduced to its clipped x0.
  s.sqrt_alpha_prod_prev = 1.0f;
  s.dir_coefficient = 0.0f;
  s.clip = clip;
  s.clip_range = clip_range;
  return ops::eps_ddim_step(eps, x, s);
}

JointSample joint_data_prediction(const MultistepSchedule& schedule, int k, const JointSample& x,
                                  const JointPrediction& out) {
  const NoiseLevel& heads = schedule.heads[k];
  return {video_data_prediction(schedule.video[k], x.video, out.v),
          head_data_prediction(heads, x.actions, out.action_eps, schedule.head_clip, schedule.head_clip_range),
          head_data_prediction(heads, x.states, out.state_eps, schedule.head_clip, schedule.head_clip_range)};
}

Tensor linear_combination(std::span<const float> c, std::span<const Tensor* const> xs) {
  WMA_CHECK(!c.empty() && c.size() == xs.size(), "[sampling] linear combination of ", xs.size(), " tensors with ",
            c.size(), " coefficients");
  std::vector<std::size_t> used;
  for (std::size_t i = 0; i < c.size(); ++i)
    if (c[i] != 0.0f) used.push_back(i);
  if (used.empty()) return ops::scale(*xs[0], 0.0f);
  if (used.size() == 1) return ops::scale(*xs[used[0]], c[used[0]]);
  Tensor sum = ops::axpby(c[used[0]], *xs[used[0]], c[used[1]], *xs[used[1]]);
  for (std::size_t j = 2; j < used.size(); ++j) sum = ops::axpby(1.0f, sum, c[used[j]], *xs[used[j]]);
  return sum;
}

}  // namespace wma::sampling
