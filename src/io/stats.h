// Normalisation statistics of upstream's example data (`transitions/<set>/meta_data/stats.safetensors`,
// read by src/unifolm_wma/data/utils.py load_stats: keys like `action/min` unflattened on '/') and the
// min_max Normalize / Unnormalize of src/unifolm_wma/data/normolize.py, in float32 as torch computes them.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace wma::io {

struct MinMax {
  std::vector<float> min, max;
};

class NormalizationStats {
 public:
  // Reads every `<feature>/min` and `<feature>/max` pair; throws naming the file when it is unreadable.
  static NormalizationStats read(const std::string& path);
  const std::string& path() const { return path_; }
  bool has(const std::string& feature) const { return features_.count(feature) != 0; }
  // Throws naming the file and the feature when absent.
  const MinMax& at(const std::string& feature) const;

 private:
  std::string path_;
  std::map<std::string, MinMax> features_;
};

// Rows of `dim` values (row-major): y = (x - min) / (max - min + 1e-8) * 2 - 1.
std::vector<float> normalize_min_max(const std::vector<float>& x, const MinMax& stats);
// The inverse upstream's Unnormalize applies: (y + 1) / 2 * (max - min) + min.
std::vector<float> unnormalize_min_max(const std::vector<float>& y, const MinMax& stats);

}  // namespace wma::io
