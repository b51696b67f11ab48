// PyTorch zip checkpoint reader. The archive holds <root>/data.pkl (the object tree) and
// <root>/data/<key> (raw little-endian storages); <root> is "archive" or the file's stem.
#include "io/ckpt.h"

#include <cstring>

namespace wma::io {

namespace {

constexpr int kMaxNesting = 64;

std::string key_text(const pickle::Object* k) {
  using K = pickle::Object::Kind;
  if (k->kind == K::String) return k->text;
  if (k->kind == K::Int) return std::to_string(k->integer);
  return {};
}

}  // namespace

CkptSource::CkptSource(std::shared_ptr<MappedFile> file) : file_(std::move(file)) {
  const std::string& path = file_->path();
  WMA_CHECK(looks_like_zip(file_->data(), file_->size()), "[ckpt] ", path,
            ": not a zip archive (PyTorch checkpoints written by torch.save >= 1.6 are zip files)");
  const auto entries = read_zip_index(file_->data(), file_->size(), path);
  const ZipEntry* pkl = nullptr;
  for (const auto& e : entries) {
    const auto slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      WMA_CHECK(pkl == nullptr, "[ckpt] ", path, ": more than one data.pkl in the archive ('", pkl->name, "' and '",
                e.name, "')");
      pkl = &e;
      root_ = e.name.substr(0, slash + 1);
    }
  }
  WMA_CHECK(pkl != nullptr, "[ckpt] ", path, ": no <folder>/data.pkl in the archive; not a torch.save checkpoint");
  for (const auto& e : entries)
    if (e.name.compare(0, root_.size(), root_) == 0) entries_[e.name.substr(root_.size())] = e;

  if (const auto it = entries_.find("byteorder"); it != entries_.end()) {
    const std::string order(reinterpret_cast<const char*>(file_->data() + it->second.data_offset),
                            static_cast<std::size_t>(it->second.size));
    WMA_CHECK(order == "little", "[ckpt] ", path, ": storages are '", order,
              "'-endian; only little-endian is supported");
  }
  const std::uint8_t* pkl_data = file_->data() + pkl->data_offset;
  const auto pkl_size = static_cast<std::size_t>(pkl->size);
  WMA_CHECK(crc32(pkl_data, pkl_size) == pkl->crc32, "[ckpt] ", path, ": ", pkl->name,
            " fails its CRC check (corrupt file)");

  const pickle::Document doc = pickle::unpickle(pkl_data, pkl_size, path + ": " + pkl->name);
  const pickle::Object* top = doc.root();
  using K = pickle::Object::Kind;
  if (top->kind == K::Tensor) {
    format_ = "pytorch zip checkpoint (single tensor)";
    add_tensor("tensor", top->tensor());
    return;
  }
  WMA_CHECK(top->kind == K::Dict, "[ckpt] ", path, ": top-level object is not a dict");
  const pickle::Object* sd = top->find("state_dict");
  const pickle::Object* module = top->find("module");
  if (sd != nullptr && sd->kind == K::Dict) {
    format_ = "pytorch zip checkpoint (lightning state_dict)";
    flatten(sd, "", 0);
  } else if (module != nullptr && module->kind == K::Dict) {
    format_ = "pytorch zip checkpoint (deepspeed module)";
    layout_ = KeyLayout::DeepSpeed;
    flatten(module, "", 0);
  } else {
    format_ = "pytorch zip checkpoint (plain dict)";
    flatten(top, "", 0);
  }
}

void CkptSource::flatten(const pickle::Object* obj, const std::string& prefix, int depth) {
  WMA_CHECK(depth < kMaxNesting, "[ckpt] ", path(), ": dicts nested deeper than ", kMaxNesting, " at '", prefix, "'");
  for (const auto& [k, v] : obj->entries()) {
    const std::string key = key_text(k);
    if (key.empty()) continue;  // tuple or None keys never name tensors
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    if (v->kind == pickle::Object::Kind::Tensor) add_tensor(name, v->tensor());
    else if (v->kind == pickle::Object::Kind::Dict) flatten(v, name, depth + 1);
  }
}

void CkptSource::add_tensor(const std::string& name, const pickle::TensorRef& ref) {
  const auto bad = [&](const std::string& what) { fail("[ckpt] ", path(), ": tensor '", name, "': ", what); };
  WMA_CHECK(index_.find(name) == index_.end(), "[ckpt] ", path(), ": tensor name '", name, "' occurs twice");
  const auto it = entries_.find("data/" + ref.storage.key);
  if (it == entries_.end()) bad(str_cat("storage '", root_, "data/", ref.storage.key, "' is missing from the archive"));
  const std::uint64_t es = file_dtype_size(ref.storage.dtype);
  if (ref.storage.numel > it->second.size / es)
    bad(str_cat("storage too short: entry '", root_, "data/", ref.storage.key, "' holds ", it->second.size,
                " bytes but the checkpoint declares ", ref.storage.numel, " ", file_dtype_name(ref.storage.dtype),
                " elements"));
  if (ref.offset < 0) bad(str_cat("negative storage offset ", ref.offset));
  // A crafted file picks sizes and strides whose products wrap in 64 bits, which would pass the storage check and
  // let the view reach past its entry; every step is overflow-checked.
  const auto overflow = [&] {
    bad(str_cat("size ", shape_str(ref.shape), " stride ", shape_str(ref.strides), " offset ", ref.offset,
                " overflows 64-bit arithmetic"));
  };
  std::uint64_t numel = 1;
  std::uint64_t last = static_cast<std::uint64_t>(ref.offset);
  for (std::size_t d = 0; d < ref.shape.size(); ++d) {
    if (ref.shape[d] < 0 || ref.strides[d] < 0)
      bad(str_cat("negative size or stride in ", shape_str(ref.shape), " / ", shape_str(ref.strides)));
    const auto size = static_cast<std::uint64_t>(ref.shape[d]);
    std::uint64_t reach = 0;
    if (__builtin_mul_overflow(numel, size, &numel)) overflow();
    if (size > 0 && (__builtin_mul_overflow(size - 1, static_cast<std::uint64_t>(ref.strides[d]), &reach) ||
                     __builtin_add_overflow(last, reach, &last)))
      overflow();
  }
  // A view that repeats elements (stride 0, overlapping strides) can claim more elements than the file holds, and
  // every contiguous copy of it (inspect --values, convert, model loading) would take that much memory.
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(numel, es, &bytes) || bytes > file_->size())
    bad(str_cat("size ", shape_str(ref.shape), " stride ", shape_str(ref.strides), " spans ", numel, " ",
                file_dtype_name(ref.storage.dtype), " elements, more than the file's ", file_->size(),
                " bytes hold (views that repeat elements past the file's size are refused)"));
  // storage.numel is already bounded by the entry's bytes, so an element extent below it stays inside the entry.
  if (numel > 0 && last >= ref.storage.numel)
    bad(str_cat("storage too short: view ", shape_str(ref.shape), " stride ", shape_str(ref.strides), " offset ",
                ref.offset, " reaches element ", last, " but storage '", ref.storage.key, "' has ", ref.storage.numel));
  index_.emplace(name, infos_.size());
  infos_.push_back(TensorInfo{name, loaded_dtype(ref.storage.dtype), ref.shape});
  refs_.push_back(ref);
}

Tensor CkptSource::load(const std::string& name) const {
  const auto it = index_.find(name);
  WMA_CHECK(it != index_.end(), "[load] ", path(), ": no tensor named '", name, "'");
  const pickle::TensorRef& ref = refs_[it->second];
  const ZipEntry& e = entries_.at("data/" + ref.storage.key);
  const std::size_t bytes = static_cast<std::size_t>(ref.storage.numel * file_dtype_size(ref.storage.dtype));
  if (is_native(ref.storage.dtype))
    return file_->view(e.data_offset, bytes, loaded_dtype(ref.storage.dtype), ref.shape, ref.strides, ref.offset);
  return widen_copy(file_->data() + e.data_offset, ref.storage.dtype, ref.shape, ref.strides, ref.offset);
}

}  // namespace wma::io
