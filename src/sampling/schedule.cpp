// The video noise schedule of upstream's DDPM.register_schedule (ddpms.py) with make_beta_schedule and
// rescale_zero_terminal_snr (utils/diffusion.py): float64 numpy/torch arithmetic, element by element in the same
// order, rounded to float32 only when stored, so the buffers match the checkpoint's bit for bit.
#include "sampling/schedule.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace wma::sampling {

namespace {

std::vector<float> to_f32(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

// np.cumprod is a sequential float64 product.
std::vector<double> cumprod(const std::vector<double>& v) {
  std::vector<double> out(v.size());
  double acc = 1.0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    acc = i == 0 ? v[0] : acc * v[i];
    out[i] = acc;
  }
  return out;
}

void take_buffer(std::vector<float>& dst, const std::optional<std::vector<float>>& src, const char* name) {
  if (!src) return;
  WMA_CHECK(src->size() == dst.size(), "[sampling] checkpoint buffer ", name, " has ", src->size(),
            " elements, the schedule has ", dst.size());
  dst = *src;
}

}  // namespace

std::vector<double> scaled_linear_betas(int num_timesteps, double linear_start, double linear_end) {
  WMA_CHECK(num_timesteps >= 2, "[sampling] need at least 2 timesteps, got ", num_timesteps);
  // Python's `x ** 0.5` calls libm pow, which need not round like sqrt.
  const double start = std::pow(linear_start, 0.5);
  const double end = std::pow(linear_end, 0.5);
  // torch.linspace (CPU) fills the first half forward from start and the second half backward from end.
  const double step = (end - start) / static_cast<double>(num_timesteps - 1);
  const int halfway = num_timesteps / 2;
  std::vector<double> betas(num_timesteps);
  for (int i = 0; i < num_timesteps; ++i) {
    const double x = i < halfway ? start + step * i : end - step * (num_timesteps - i - 1);
    betas[i] = x * x;
  }
  return betas;
}

std::vector<double> rescale_zero_terminal_snr(const std::vector<double>& betas) {
  std::vector<double> alphas(betas.size());
  for (std::size_t i = 0; i < betas.size(); ++i) alphas[i] = 1.0 - betas[i];
  std::vector<double> s = cumprod(alphas);
  for (double& x : s) x = std::sqrt(x);
  const double s0 = s.front();
  const double s_last = s.back();
  // numpy evaluates the scale factor once, then shifts and scales in place.
  const double factor = s0 / (s0 - s_last);
  for (double& x : s) {
    x -= s_last;
    x *= factor;
  }
  std::vector<double> out(betas.size());
  double prev_bar = 0.0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const double bar = s[i] * s[i];
    out[i] = 1.0 - (i == 0 ? bar : bar / prev_bar);
    prev_bar = bar;
  }
  return out;
}

std::vector<float> dynamic_rescale_scale_arr(int num_timesteps, double base_scale, int turning_step) {
  WMA_CHECK(turning_step >= 2, "[sampling] dynamic rescale turning_step must be >= 2, got ", turning_step);
  std::vector<float> out;
  out.reserve(turning_step + num_timesteps);
  // np.linspace: start + i * ((stop - start) / (num - 1)), with the last element set to stop exactly.
  const double step = (base_scale - 1.0) / static_cast<double>(turning_step - 1);
  for (int i = 0; i < turning_step - 1; ++i) out.push_back(static_cast<float>(i * step + 1.0));
  out.push_back(static_cast<float>(base_scale));
  out.insert(out.end(), num_timesteps, static_cast<float>(base_scale));
  return out;
}

VideoSchedule make_video_schedule(const VideoScheduleConfig& config, const VideoScheduleBuffers& checkpoint) {
  std::vector<double> betas = scaled_linear_betas(config.num_timesteps, config.linear_start, config.linear_end);
  if (config.rescale_zero_terminal_snr) betas = rescale_zero_terminal_snr(betas);

  const std::size_t n = betas.size();
  std::vector<double> alphas(n);
  for (std::size_t i = 0; i < n; ++i) alphas[i] = 1.0 - betas[i];
  const std::vector<double> ac = cumprod(alphas);
  std::vector<double> ac_prev(n), sqrt_ac(n), sqrt_1m_ac(n);
  for (std::size_t i = 0; i < n; ++i) {
    ac_prev[i] = i == 0 ? 1.0 : ac[i - 1];
    sqrt_ac[i] = std::sqrt(ac[i]);
    sqrt_1m_ac[i] = std::sqrt(1.0 - ac[i]);
  }

  VideoSchedule s;
  s.betas = to_f32(betas);
  s.alphas_cumprod = to_f32(ac);
  s.alphas_cumprod_prev = to_f32(ac_prev);
  s.sqrt_alphas_cumprod = to_f32(sqrt_ac);
  s.sqrt_one_minus_alphas_cumprod = to_f32(sqrt_1m_ac);
  if (config.use_dynamic_rescale)
    s.scale_arr = dynamic_rescale_scale_arr(config.num_timesteps, config.base_scale, config.turning_step);

  take_buffer(s.betas, checkpoint.betas, "betas");
  take_buffer(s.alphas_cumprod, checkpoint.alphas_cumprod, "alphas_cumprod");
  take_buffer(s.alphas_cumprod_prev, checkpoint.alphas_cumprod_prev, "alphas_cumprod_prev");
  take_buffer(s.sqrt_alphas_cumprod, checkpoint.sqrt_alphas_cumprod, "sqrt_alphas_cumprod");
  take_buffer(s.sqrt_one_minus_alphas_cumprod, checkpoint.sqrt_one_minus_alphas_cumprod,
              "sqrt_one_minus_alphas_cumprod");
  if (checkpoint.scale_arr) {
    WMA_CHECK(config.use_dynamic_rescale, "[sampling] checkpoint has scale_arr but dynamic rescale is off");
    take_buffer(s.scale_arr, checkpoint.scale_arr, "scale_arr");
  }
  return s;
}

}  // namespace wma::sampling
