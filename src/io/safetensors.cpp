// safetensors reader (header validated up front, tensors viewed lazily from the mapping) and
// streaming writer. Layout: u64 little-endian header length, JSON header, then the data block.
#include "io/safetensors.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace wma::io {

namespace {

constexpr std::size_t kMaxHeaderBytes = 100u << 20;  // the format's own limit

std::uint64_t read_u64_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

bool parse_file_dtype(const std::string& s, FileDType* out) {
  static const FileDType kAll[] = {FileDType::F32, FileDType::F16, FileDType::BF16, FileDType::I32, FileDType::I64,
                                   FileDType::F64, FileDType::U8,  FileDType::I8,   FileDType::I16, FileDType::Bool};
  for (FileDType t : kAll) {
    if (file_dtype_name(t) == s) {
      *out = t;
      return true;
    }
  }
  return false;
}

// Product of dims, or false on overflow past what a file can hold.
bool checked_numel(const Shape& shape, std::uint64_t* out) {
  std::uint64_t n = 1;
  for (auto d : shape) {
    if (d < 0) return false;
    const auto u = static_cast<std::uint64_t>(d);
    if (u != 0 && n > (std::uint64_t{1} << 62) / u) return false;
    n *= u;
  }
  *out = n;
  return true;
}

}  // namespace

SafetensorsSource::SafetensorsSource(std::shared_ptr<MappedFile> file) : file_(std::move(file)) {
  const std::string& path = file_->path();
  const std::size_t size = file_->size();
  WMA_CHECK(size >= 8, "[safetensors] ", path, ": file of ", size, " bytes is too short for a header");
  const std::uint64_t header_len = read_u64_le(file_->data());
  WMA_CHECK(header_len <= kMaxHeaderBytes, "[safetensors] ", path, ": header length ", header_len,
            " exceeds the 100 MB limit");
  WMA_CHECK(header_len <= size - 8, "[safetensors] ", path, ": header length ", header_len,
            " runs past the end of the file (", size, " bytes)");
  const std::string_view text(reinterpret_cast<const char*>(file_->data()) + 8, header_len);
  json::Value header;
  try {
    header = json::parse(text);
  } catch (const Error& e) {
    fail("[safetensors] ", path, ": header is not valid JSON: ", e.what());
  }
  WMA_CHECK(header.is_object(), "[safetensors] ", path, ": header is not a JSON object");
  const std::size_t data_start = 8 + header_len;
  const std::size_t data_size = size - data_start;
  for (const auto& [name, v] : header.as_object()) {
    if (name == "__metadata__") {
      WMA_CHECK(v.is_object(), "[safetensors] ", path, ": __metadata__ is not an object");
      for (const auto& [k, mv] : v.as_object())
        WMA_CHECK(mv.is_string(), "[safetensors] ", path, ": __metadata__ value of '", k, "' is not a string");
      metadata_ = v.as_object();
      continue;
    }
    // clang before 16 cannot capture a structured binding, hence the init-capture.
    const auto bad = [&, &name = name](const std::string& what) {
      fail("[safetensors] ", path, ": tensor '", name, "': ", what);
    };
    if (!v.is_object()) bad("entry is not an object");
    const json::Value* dt = v.find("dtype");
    const json::Value* sh = v.find("shape");
    const json::Value* offs = v.find("data_offsets");
    if (dt == nullptr || sh == nullptr || offs == nullptr) bad("entry needs dtype, shape and data_offsets");
    FileDType stored{};
    if (!dt->is_string() || !parse_file_dtype(dt->as_string(), &stored))
      bad(str_cat("unsupported dtype ", json::dump(*dt)));
    if (!sh->is_array()) bad("shape is not an array");
    Shape shape;
    for (const auto& d : sh->as_array()) {
      if (!d.is_int() || d.as_int() < 0)
        bad(str_cat("shape ", json::dump(*sh), " holds a non-integer or negative size"));
      shape.push_back(d.as_int());
    }
    if (!offs->is_array() || offs->as_array().size() != 2 || !offs->as_array()[0].is_int() ||
        !offs->as_array()[1].is_int())
      bad("data_offsets must be two integers");
    const std::int64_t b = offs->as_array()[0].as_int();
    const std::int64_t e = offs->as_array()[1].as_int();
    if (b < 0 || e < b) bad(str_cat("data_offsets [", b, ", ", e, "] are not an increasing range"));
    if (static_cast<std::uint64_t>(e) > data_size)
      bad(str_cat("data_offsets [", b, ", ", e, "] lie outside the data block of ", data_size, " bytes"));
    std::uint64_t numel = 0;
    // 2^62 F64 elements wrap to 0 bytes, which an empty data range would match.
    std::uint64_t expected = 0;
    if (!checked_numel(shape, &numel) || __builtin_mul_overflow(numel, file_dtype_size(stored), &expected))
      bad(str_cat("shape ", shape_str(shape), " is too large"));
    if (static_cast<std::uint64_t>(e - b) != expected)
      bad(str_cat("header lies about sizes: ", file_dtype_name(stored), shape_str(shape), " needs ", expected,
                  " bytes but data_offsets span ", e - b));
    index_.emplace(name, infos_.size());
    infos_.push_back(TensorInfo{name, loaded_dtype(stored), shape});
    entries_.push_back(
        Entry{stored, data_start + static_cast<std::size_t>(b), data_start + static_cast<std::size_t>(e)});
  }
}

Tensor SafetensorsSource::load(const std::string& name) const {
  const auto it = index_.find(name);
  WMA_CHECK(it != index_.end(), "[load] ", path(), ": no tensor named '", name, "'");
  const TensorInfo& info = infos_[it->second];
  const Entry& e = entries_[it->second];
  if (is_native(e.stored))
    return file_->view(e.begin, e.end - e.begin, info.dtype, info.shape, contiguous_strides(info.shape), 0);
  return widen_copy(file_->data() + e.begin, e.stored, info.shape, contiguous_strides(info.shape), 0);
}

SafetensorsWriter::SafetensorsWriter(std::string path) : path_(std::move(path)) {}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  for (auto& m : metadata_) {
    if (m.first == key) {
      m.second = value;
      return;
    }
  }
  metadata_.emplace_back(key, value);
}

void SafetensorsWriter::add(const std::string& name, DType dtype, const Shape& shape, Producer producer) {
  WMA_CHECK(name != "__metadata__", "[safetensors] ", path_, ": '__metadata__' is reserved");
  for (const auto& p : pending_)
    WMA_CHECK(p.name != name, "[safetensors] ", path_, ": tensor '", name, "' added twice");
  pending_.push_back(Pending{name, dtype, shape, std::move(producer)});
}

void SafetensorsWriter::add(const std::string& name, const Tensor& tensor) {
  add(name, tensor.dtype(), tensor.shape(), [tensor] { return tensor; });
}

void SafetensorsWriter::finish() {
  json::Object header;
  if (!metadata_.empty()) header.emplace_back("__metadata__", json::Value(metadata_));
  std::int64_t offset = 0;
  for (const auto& p : pending_) {
    json::Array shape;
    for (auto d : p.shape) shape.emplace_back(d);
    const auto bytes = static_cast<std::int64_t>(shape_numel(p.shape) * static_cast<std::int64_t>(dtype_size(p.dtype)));
    json::Object entry;
    entry.emplace_back("dtype", std::string(file_dtype_name(file_dtype_of(p.dtype))));
    entry.emplace_back("shape", json::Value(std::move(shape)));
    entry.emplace_back("data_offsets", json::Value(json::Array{json::Value(offset), json::Value(offset + bytes)}));
    header.emplace_back(p.name, json::Value(std::move(entry)));
    offset += bytes;
  }
  std::string text = json::dump(json::Value(std::move(header)));
  // Pad with spaces so the data block starts 8-byte aligned, as the reference writer does.
  while ((8 + text.size()) % 8 != 0) text += ' ';

  tmp_.emplace(path_);
  const std::string& tmp_path = tmp_->path();
  std::FILE* f = std::fopen(tmp_path.c_str(), "wb");
  WMA_CHECK(f != nullptr, "[safetensors] ", tmp_path, ": cannot create: ", std::strerror(errno));
  const auto write = [&](const void* data, std::size_t n) {
    if (n > 0 && std::fwrite(data, 1, n, f) != n) {
      const int err = errno;
      std::fclose(f);
      fail("[safetensors] ", tmp_path, ": write failed: ", std::strerror(err));
    }
  };
  std::uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
  write(len, 8);
  write(text.data(), text.size());
  for (auto& p : pending_) {
    Tensor t;
    try {
      t = p.producer();
    } catch (...) {
      std::fclose(f);
      throw;
    }
    if (t.dtype() != p.dtype || t.shape() != p.shape) {
      std::fclose(f);
      fail("[safetensors] ", path_, ": tensor '", p.name, "' was declared ", dtype_name(p.dtype), shape_str(p.shape),
           " but produced ", t.describe());
    }
    const Tensor c = contiguous_as(t, p.dtype);
    write(c.numel() > 0 ? c.data_ptr() : nullptr, c.nbytes());
    p.producer = nullptr;  // release whatever the producer captured
  }
  if (std::fclose(f) != 0) fail("[safetensors] ", tmp_path, ": close failed: ", std::strerror(errno));
  tmp_->commit();
}

}  // namespace wma::io
