// Format detection and the WeightStore's renaming of checkpoint keys to the names upstream's
// modules expect (docs/upstream.md#checkpoint-loading).
#include "io/weight_store.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "io/ckpt.h"
#include "io/safetensors.h"
#include "io/tensor_bytes.h"
#include "io/zip.h"

namespace wma::io {

namespace {

constexpr std::size_t kDeepSpeedPrefix = 16;  // "_forward_module."

std::string model_name(const std::string& file_name, KeyLayout layout, const std::string& path) {
  std::string name = file_name;
  if (layout == KeyLayout::DeepSpeed) {
    WMA_CHECK(name.size() > kDeepSpeedPrefix, "[weights] ", path, ": DeepSpeed key '", name,
              "' is not longer than the 16-character module prefix");
    name = name.substr(kDeepSpeedPrefix);
  }
  static const std::string kOld = "framestride_embed";
  static const std::string kNew = "fps_embedding";
  for (std::size_t at = name.find(kOld); at != std::string::npos; at = name.find(kOld, at + kNew.size()))
    name.replace(at, kOld.size(), kNew);
  return name;
}

}  // namespace

std::unique_ptr<TensorSource> open_tensor_file(const std::string& path) {
  std::uint8_t head[16] = {};
  std::size_t n = 0;
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    WMA_CHECK(f != nullptr, "[open] ", path, ": ", std::strerror(errno));
    n = std::fread(head, 1, sizeof head, f);
    std::fclose(f);
  }
  if (looks_like_zip(head, n)) return std::make_unique<CkptSource>(path);
  if (n >= 9 && head[8] == '{') return std::make_unique<SafetensorsSource>(path);
  fail("[open] ", path, ": unrecognised format (expected a PyTorch zip checkpoint or .safetensors)");
}

WeightStore::WeightStore(std::unique_ptr<TensorSource> source) : source_(std::move(source)) {
  WMA_CHECK(source_ != nullptr, "[weights] no tensor source");
  for (const auto& info : source_->tensors()) {
    TensorInfo renamed = info;
    renamed.name = model_name(info.name, source_->key_layout(), source_->path());
    const auto [it, inserted] = index_.emplace(renamed.name, renamed_.size());
    WMA_CHECK(inserted, "[weights] ", source_->path(), ": keys '", source_names_[it->second], "' and '", info.name,
              "' both map to '", renamed.name, "'");
    renamed_.push_back(std::move(renamed));
    source_names_.push_back(info.name);
  }
}

std::vector<std::string> WeightStore::keys() const {
  std::vector<std::string> out;
  out.reserve(renamed_.size());
  for (const auto& info : renamed_) out.push_back(info.name);
  return out;
}

const TensorInfo* WeightStore::find(const std::string& key) const {
  const auto it = index_.find(key);
  return it == index_.end() ? nullptr : &renamed_[it->second];
}

const std::string& WeightStore::source_name(const std::string& key) const {
  const auto it = index_.find(key);
  WMA_CHECK(it != index_.end(), "[weights] ", path(), ": missing key '", key, "'");
  return source_names_[it->second];
}

Tensor WeightStore::load(const std::string& key) const {
  const auto it = index_.find(key);
  WMA_CHECK(it != index_.end(), "[weights] ", path(), ": missing key '", key, "'");
  const Tensor t = source_->load(source_names_[it->second]);
  // Models copy weights as flat buffers, so hand out contiguous tensors (a copy only for the rare strided entry).
  return contiguous_as(t, t.dtype());
}

}  // namespace wma::io
