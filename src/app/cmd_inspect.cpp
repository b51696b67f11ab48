// `wma inspect FILE [--values N]`: one line per tensor (name, dtype, shape, bytes, optionally the
// first N values in row-major order) and a totals line. Names are as stored in the file.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>

#include "app/cli.h"
#include "app/commands.h"
#include "core/error.h"
#include "io/tensor_bytes.h"
#include "io/weight_store.h"

namespace wma::app {

namespace {

std::string compact_shape(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(shape[i]);
  }
  s += ']';
  return s;
}

std::string first_values(const Tensor& t, std::int64_t n) {
  const std::int64_t count = std::min(n, t.numel());
  const Tensor head = io::contiguous_as(t, t.dtype()).reshape({t.numel()}).slice(0, 0, count);
  std::string out;
  char buf[40];
  if (dtype_is_float(t.dtype())) {
    for (const float v : head.to_floats()) {
      std::snprintf(buf, sizeof buf, " %.9g", static_cast<double>(v));
      out += buf;
    }
  } else {
    for (const std::int64_t v : head.to_ints()) {
      std::snprintf(buf, sizeof buf, " %" PRId64, v);
      out += buf;
    }
  }
  return out;
}

}  // namespace

int cmd_inspect(int argc, char** argv) {
  const Flags f(argc, argv,
                {"inspect",
                 "FILE [--values N]",
                 {{"values", "N", "also print each tensor's first N values in row-major order", "0"}},
                 {{"FILE", "a .ckpt or .safetensors file"}}});
  if (print_help(f)) return 0;
  WMA_CHECK(f.positionals().size() == 1, "[inspect] usage: wma inspect FILE [--values N]");
  const std::string path = f.positionals().front();
  const std::int64_t values = f.integer("values", 0);
  WMA_CHECK(values >= 0, "[inspect] --values needs a count, got ", values);

  const auto source = io::open_tensor_file(path);
  const auto& tensors = source->tensors();
  std::size_t width = 4;
  for (const auto& info : tensors) width = std::max(width, info.name.size());
  std::printf("# %s: %s\n", path.c_str(), source->format().c_str());
  std::int64_t params = 0;
  std::int64_t bytes = 0;
  for (const auto& info : tensors) {
    const std::int64_t numel = shape_numel(info.shape);
    const std::int64_t nbytes = numel * static_cast<std::int64_t>(dtype_size(info.dtype));
    params += numel;
    bytes += nbytes;
    std::string line = info.name + std::string(width - info.name.size() + 2, ' ');
    char buf[64];
    std::snprintf(buf, sizeof buf, "%-4s  ", std::string(dtype_name(info.dtype)).c_str());
    line += buf;
    line += compact_shape(info.shape);
    std::snprintf(buf, sizeof buf, "  %" PRId64, nbytes);
    line += buf;
    if (values > 0 && numel > 0) line += "  values:" + first_values(source->load(info.name), values);
    std::printf("%s\n", line.c_str());
  }
  std::printf("total: %zu tensors, %" PRId64 " params, %" PRId64 " bytes\n", tensors.size(), params, bytes);
  return 0;
}

}  // namespace wma::app
