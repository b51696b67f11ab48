// Normalisation stats (upstream data/utils.py load_stats, data/normolize.py min_max mode).
#include "io/stats.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "io/weight_store.h"

namespace wma::io {

NormalizationStats NormalizationStats::read(const std::string& path) {
  NormalizationStats stats;
  stats.path_ = path;
  const WeightStore store = WeightStore::open(path);
  for (const std::string& key : store.keys()) {
    const auto slash = key.rfind('/');
    if (slash == std::string::npos) continue;
    const std::string feature = key.substr(0, slash), stat = key.substr(slash + 1);
    if (stat != "min" && stat != "max") continue;
    std::vector<float> values = store.load(key).to_floats();
    // A NaN bound would otherwise run the whole pass and only fail when the results are written as JSON.
    const auto bad = std::find_if(values.begin(), values.end(), [](float v) { return !std::isfinite(v); });
    WMA_CHECK(bad == values.end(), "[stats] ", path, ": '", key, "'[", bad - values.begin(), "] is ", *bad,
              "; values must be finite");
    (stat == "min" ? stats.features_[feature].min : stats.features_[feature].max) = std::move(values);
  }
  for (const auto& [feature, mm] : stats.features_)
    WMA_CHECK(!mm.min.empty() && mm.min.size() == mm.max.size(), "[stats] ", path, ": '", feature, "' has min of ",
              mm.min.size(), " and max of ", mm.max.size(), " values");
  return stats;
}

const MinMax& NormalizationStats::at(const std::string& feature) const {
  const auto it = features_.find(feature);
  WMA_CHECK(it != features_.end(), "[stats] ", path_, " has no '", feature, "/min' and '", feature, "/max'");
  return it->second;
}

namespace {
void check_width(const std::vector<float>& x, const MinMax& stats) {
  WMA_CHECK(!stats.min.empty() && x.size() % stats.min.size() == 0, "[stats] ", x.size(),
            " values are not whole rows of ", stats.min.size());
}
}  // namespace

std::vector<float> normalize_min_max(const std::vector<float>& x, const MinMax& stats) {
  check_width(x, stats);
  const std::size_t d = stats.min.size();
  std::vector<float> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float lo = stats.min[i % d], hi = stats.max[i % d];
    const float unit = (x[i] - lo) / ((hi - lo) + 1e-8f);
    y[i] = unit * 2.0f - 1.0f;
  }
  return y;
}

std::vector<float> unnormalize_min_max(const std::vector<float>& y, const MinMax& stats) {
  check_width(y, stats);
  const std::size_t d = stats.min.size();
  std::vector<float> x(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) {
    const float lo = stats.min[i % d], hi = stats.max[i % d];
    x[i] = (y[i] + 1.0f) / 2.0f * (hi - lo) + lo;
  }
  return x;
}

}  // namespace wma::io
