// Structures as the HDF5 File Format Specification (version 3.0) lays them out; only the subset h5.h's callers
// meet is read, and every structure is bounds-checked against the file before it is used.
#include "io/h5_builtin.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>
#include <utility>

#include "core/error.h"

namespace wma::io::h5_builtin {
namespace {

constexpr std::uint8_t kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
constexpr int kMaxDepth = 16;
constexpr std::size_t kMaxMembers = 65536;
constexpr int kMaxMessages = 4096;
constexpr int kMaxContinuations = 64;
constexpr std::size_t kMaxRank = 8;

enum MessageType : std::uint16_t {
  kDataspace = 0x0001,
  kDatatype = 0x0003,
  kExternalFiles = 0x0007,
  kLayout = 0x0008,
  kFilters = 0x000B,
  kAttribute = 0x000C,
  kContinuation = 0x0010,
  kSymbolTable = 0x0011,
};

struct Message {
  std::uint16_t type;
  std::uint64_t at;  // absolute offset of its data
  std::uint64_t size;
};

struct Member {
  std::string name;
  std::uint64_t header;  // object header address
};

// A numeric or string element type.
struct Datatype {
  int cls = -1;  // 0 fixed-point, 1 floating-point, 3 string, 9 variable-length
  std::uint32_t size = 0;
  bool big_endian = false;
  bool is_signed = false;
  bool vlen_string = false;
  int string_padding = 0;  // 0 null-terminated, 1 null-padded, 2 space-padded
};

class File {
 public:
  explicit File(const MappedFile& f) : f_(f) { read_superblock(); }

  template <typename... Args>
  [[noreturn]] void bad(Args&&... what) const {
    fail("[h5] ", f_.path(), ": ", std::forward<Args>(what)...);
  }

  void need(std::uint64_t at, std::uint64_t n, const char* what) const {
    if (at > f_.size() || n > f_.size() - at) bad("truncated or corrupt (", what, " at byte ", at, ")");
  }
  std::uint64_t uint(std::uint64_t at, int bytes, const char* what) const {
    need(at, static_cast<std::uint64_t>(bytes), what);
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = v << 8 | f_.data()[at + i];
    return v;
  }
  const std::uint8_t* bytes(std::uint64_t at, std::uint64_t n, const char* what) const {
    need(at, n, what);
    return f_.data() + at;
  }
  bool undefined(std::uint64_t address) const {
    return address == (offset_size_ == 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * offset_size_)) - 1);
  }
  // A file address (relative to the base address) as an offset into the file.
  std::uint64_t absolute(std::uint64_t address, const char* what) const {
    if (undefined(address) || address > f_.size() || base_ > f_.size() - address)
      bad("corrupt (", what, " address ", address, " is outside the file)");
    return base_ + address;
  }
  std::uint64_t offset(std::uint64_t at, const char* what) const { return uint(at, offset_size_, what); }
  std::uint64_t length(std::uint64_t at, const char* what) const { return uint(at, length_size_, what); }

  int offset_size() const { return offset_size_; }
  int length_size() const { return length_size_; }
  std::uint64_t root() const { return root_; }

  std::vector<Message> messages(std::uint64_t header) const;
  std::vector<Member> members(const std::vector<Message>& group) const;
  std::uint64_t find(const std::string& path) const;

 private:
  void read_superblock();
  void walk_btree(std::uint64_t node, std::uint64_t heap_data, std::uint64_t heap_size, int depth,
                  std::vector<Member>& out, std::set<std::uint64_t>& seen, std::uint64_t& name_bytes) const;

  const MappedFile& f_;
  int offset_size_ = 8, length_size_ = 8;
  std::uint64_t base_ = 0, root_ = 0;
};

void File::read_superblock() {
  if (f_.size() < sizeof kSignature || std::memcmp(f_.data(), kSignature, sizeof kSignature) != 0)
    bad("not an HDF5 file (no signature at byte 0)");
  const auto version = uint(8, 1, "superblock");
  if (version > 1)
    bad("superblock version ", version,
        " (a file written with libver='latest' or HDF5 >= 1.10 defaults) is not read by wma's built-in HDF5 reader; "
        "rebuild wma with libhdf5-dev");
  offset_size_ = static_cast<int>(uint(13, 1, "superblock"));
  length_size_ = static_cast<int>(uint(14, 1, "superblock"));
  if ((offset_size_ != 4 && offset_size_ != 8) || (length_size_ != 4 && length_size_ != 8))
    bad("unsupported address or length size (", offset_size_, ", ", length_size_, ")");
  // Version 1 adds the indexed-storage K and two reserved bytes.
  const std::uint64_t addresses = version == 0 ? 24 : 28;
  base_ = offset(addresses, "superblock");
  if (base_ > f_.size()) bad("corrupt (base address ", base_, " is outside the file)");
  // Base, free-space, end-of-file and driver-information addresses, then the root group's symbol table entry:
  // its link name offset, then its object header address.
  const std::uint64_t root_entry = addresses + 4 * static_cast<std::uint64_t>(offset_size_);
  root_ = offset(root_entry + offset_size_, "root group entry");
}

std::vector<Message> File::messages(std::uint64_t header) const {
  const std::uint64_t at = absolute(header, "object header");
  const auto version = uint(at, 1, "object header");
  if (version != 1)
    bad("object header version ", version, " at byte ", at, " is not read by wma's built-in HDF5 reader");
  const auto count = uint(at + 2, 2, "object header");
  const auto size = uint(at + 8, 4, "object header");
  // The messages start 16 bytes in: the 12-byte prefix padded to 8.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> blocks{{at + 16, size}};
  std::vector<Message> out;
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const auto [start, bytes] = blocks[b];
    need(start, bytes, "object header messages");
    std::uint64_t p = start;
    while (p + 8 <= start + bytes && out.size() < count) {
      Message m{static_cast<std::uint16_t>(uint(p, 2, "message")), p + 8, uint(p + 2, 2, "message")};
      // Flag 0x02: the message is shared (stored elsewhere, e.g. a committed datatype), not its own data.
      if ((uint(p + 4, 1, "message") & 0x02) != 0 && (m.type == kDatatype || m.type == kDataspace))
        bad("a shared (committed) datatype or dataspace at byte ", p,
            ", which wma's built-in HDF5 reader does not read");
      if (m.size > start + bytes - (p + 8)) bad("corrupt (message at byte ", p, " overruns its header)");
      if (out.size() >= kMaxMessages) bad("more than ", kMaxMessages, " header messages in one object");
      if (m.type == kContinuation) {
        if (m.size < static_cast<std::uint64_t>(offset_size_) + length_size_)
          bad("corrupt (short continuation message)");
        if (blocks.size() > kMaxContinuations) bad("more than ", kMaxContinuations, " header continuations");
        blocks.emplace_back(absolute(offset(m.at, "continuation"), "continuation"),
                            length(m.at + offset_size_, "continuation"));
      }
      out.push_back(m);
      p += 8 + m.size;
    }
  }
  return out;
}

void File::walk_btree(std::uint64_t node, std::uint64_t heap_data, std::uint64_t heap_size, int depth,
                      std::vector<Member>& out, std::set<std::uint64_t>& seen, std::uint64_t& name_bytes) const {
  const std::uint64_t at = absolute(node, "group B-tree node");
  if (depth > kMaxDepth) bad("group B-tree deeper than ", kMaxDepth, " levels");
  if (!seen.insert(at).second) bad("corrupt (group B-tree node at byte ", at, " is reached twice)");
  if (std::memcmp(bytes(at, 4, "group B-tree node"), "TREE", 4) != 0 || uint(at + 4, 1, "group B-tree node") != 0)
    bad("corrupt (no group B-tree node at byte ", at, ")");
  const auto level = uint(at + 5, 1, "group B-tree node");
  const auto entries = uint(at + 6, 2, "group B-tree node");
  const std::uint64_t first = at + 8 + 2 * static_cast<std::uint64_t>(offset_size_);
  const std::uint64_t stride = static_cast<std::uint64_t>(length_size_) + offset_size_;
  for (std::uint64_t i = 0; i < entries; ++i) {
    const std::uint64_t child = offset(first + i * stride + length_size_, "group B-tree child");
    if (level > 0) {
      walk_btree(child, heap_data, heap_size, depth + 1, out, seen, name_bytes);
      continue;
    }
    const std::uint64_t snod = absolute(child, "symbol node");
    if (!seen.insert(snod).second) bad("corrupt (symbol node at byte ", snod, " is reached twice)");
    if (std::memcmp(bytes(snod, 4, "symbol node"), "SNOD", 4) != 0 || uint(snod + 4, 1, "symbol node") != 1)
      bad("corrupt (no symbol node at byte ", snod, ")");
    const auto symbols = uint(snod + 6, 2, "symbol node");
    const std::uint64_t entry_size = 2 * static_cast<std::uint64_t>(offset_size_) + 24;
    for (std::uint64_t s = 0; s < symbols; ++s) {
      const std::uint64_t e = snod + 8 + s * entry_size;
      const std::uint64_t name = offset(e, "symbol table entry");
      if (name >= heap_size) bad("corrupt (member name offset ", name, " outside its group's heap)");
      const auto* chars = reinterpret_cast<const char*>(bytes(heap_data + name, heap_size - name, "group heap"));
      const std::size_t len = strnlen(chars, heap_size - name);
      if (len == heap_size - name) bad("corrupt (member name at heap offset ", name, " is not terminated)");
      if (out.size() >= kMaxMembers) bad("more than ", kMaxMembers, " members in one group");
      // Distinct members' names are distinct bytes of the heap: more is a file repeating one name to exhaust memory.
      name_bytes += len + 1;
      if (name_bytes > heap_size) bad("corrupt (a group's member names overrun their heap)");
      out.push_back({std::string(chars, len), offset(e + offset_size_, "symbol table entry")});
    }
  }
}

std::vector<Member> File::members(const std::vector<Message>& group) const {
  for (const Message& m : group) {
    if (m.type != kSymbolTable) continue;
    if (m.size < 2 * static_cast<std::uint64_t>(offset_size_)) bad("corrupt (short symbol table message)");
    const std::uint64_t tree = offset(m.at, "symbol table"), heap = offset(m.at + offset_size_, "symbol table");
    const std::uint64_t h = absolute(heap, "group heap");
    if (std::memcmp(bytes(h, 4, "group heap"), "HEAP", 4) != 0) bad("corrupt (no local heap at byte ", h, ")");
    const std::uint64_t heap_size = length(h + 8, "group heap");
    const std::uint64_t heap_data =
        absolute(offset(h + 8 + 2 * static_cast<std::uint64_t>(length_size_), "group heap"), "group heap data");
    need(heap_data, heap_size, "group heap data");
    std::vector<Member> out;
    std::set<std::uint64_t> seen;
    std::uint64_t name_bytes = 0;
    walk_btree(tree, heap_data, heap_size, 0, out, seen, name_bytes);
    return out;
  }
  bad("a group is stored as a link table (HDF5 >= 1.8 compact or dense groups), which wma's built-in HDF5 reader "
      "does not read");
}

std::uint64_t File::find(const std::string& path) const {
  std::uint64_t header = root_;
  std::size_t begin = 0;
  int depth = 0;
  while (begin < path.size()) {
    std::size_t end = path.find('/', begin);
    if (end == std::string::npos) end = path.size();
    if (end > begin) {
      if (++depth > kMaxDepth) bad("'", path, "' is nested deeper than ", kMaxDepth, " groups");
      const std::string name = path.substr(begin, end - begin);
      const std::vector<Message> group = messages(header);
      if (std::none_of(group.begin(), group.end(), [](const Message& m) { return m.type == kSymbolTable; }) &&
          std::any_of(group.begin(), group.end(), [](const Message& m) { return m.type == kLayout; }))
        bad("no dataset '", path, "' ('", path.substr(0, begin - 1), "' is a dataset, not a group)");
      bool found = false;
      for (const Member& m : members(group)) {
        if (m.name == name) {
          header = m.header;
          found = true;
          break;
        }
      }
      if (!found) bad("no dataset '", path, "'");
    }
    begin = end + 1;
  }
  return header;
}

Datatype parse_datatype(const File& f, std::uint64_t at, std::uint64_t size) {
  if (size < 8) f.bad("corrupt (short datatype message)");
  Datatype t;
  const auto head = f.uint(at, 1, "datatype");
  t.cls = static_cast<int>(head & 0x0f);
  const auto bits = f.uint(at + 1, 1, "datatype");
  t.size = static_cast<std::uint32_t>(f.uint(at + 4, 4, "datatype"));
  switch (t.cls) {
    case 0:
      t.big_endian = bits & 1;
      t.is_signed = bits & 8;
      if (t.size != 1 && t.size != 2 && t.size != 4 && t.size != 8) f.bad("integer of ", t.size, " bytes");
      break;
    case 1:
      if (bits & 0x40) f.bad("VAX floating-point data");
      t.big_endian = bits & 1;
      if (t.size != 4 && t.size != 8) f.bad("floating-point of ", t.size, " bytes");
      break;
    case 3: t.string_padding = static_cast<int>(bits & 0x0f); break;
    case 9: t.vlen_string = (bits & 0x0f) == 1; break;
    default: break;
  }
  return t;
}

Shape parse_dataspace(const File& f, std::uint64_t at, std::uint64_t size) {
  if (size < 4) f.bad("corrupt (short dataspace message)");
  const auto version = f.uint(at, 1, "dataspace");
  const auto rank = f.uint(at + 1, 1, "dataspace");
  if (version != 1 && version != 2) f.bad("dataspace message version ", version);
  if (version == 2 && f.uint(at + 3, 1, "dataspace") == 2) return {0};  // null dataspace: no elements
  if (rank > kMaxRank) f.bad("dataset of rank ", rank, " (at most ", kMaxRank, ")");
  const std::uint64_t dims = at + (version == 1 ? 8 : 4);
  if (dims - at + rank * f.length_size() > size) f.bad("corrupt (dataspace message shorter than its rank)");
  Shape shape;
  for (std::uint64_t i = 0; i < rank; ++i) {
    const std::uint64_t d = f.length(dims + i * f.length_size(), "dataspace");
    if (d > static_cast<std::uint64_t>(INT64_MAX)) f.bad("corrupt (dimension ", d, ")");
    shape.push_back(static_cast<std::int64_t>(d));
  }
  return shape;
}

// The element count of a shape, refused when it overflows or its bytes exceed the file.
std::uint64_t checked_elements(const File& f, const Shape& shape, std::uint64_t element_size, std::uint64_t limit) {
  std::uint64_t n = 1, nonzero = 1;
  for (const std::int64_t d : shape) {
    const auto u = static_cast<std::uint64_t>(d);
    if (u != 0 && n > limit / u) f.bad("corrupt (dataset larger than the file)");
    n *= u;
    // An empty dataset still gets strides: its other dimensions' product must be a valid size too.
    if (u != 0 && nonzero > static_cast<std::uint64_t>(INT64_MAX) / u) f.bad("corrupt (dataset dimensions overflow)");
    if (u != 0) nonzero *= u;
  }
  if (element_size != 0 && n > limit / element_size) f.bad("corrupt (dataset larger than the file)");
  return n;
}

float element(const std::uint8_t* p, const Datatype& t) {
  std::uint64_t v = 0;
  for (std::uint32_t i = 0; i < t.size; ++i) {
    const std::uint32_t byte = t.big_endian ? i : t.size - 1 - i;
    v = v << 8 | p[byte];
  }
  if (t.cls == 1) {
    if (t.size == 4) {
      const auto bits = static_cast<std::uint32_t>(v);
      float x;
      std::memcpy(&x, &bits, 4);
      return x;
    }
    double x;
    std::memcpy(&x, &v, 8);
    return static_cast<float>(x);
  }
  if (!t.is_signed) return static_cast<float>(v);
  const int shift = 64 - 8 * static_cast<int>(t.size);
  return static_cast<float>(static_cast<std::int64_t>(v << shift) >> shift);
}

std::string vlen_string(const File& f, std::uint64_t at, std::uint64_t size) {
  const std::uint64_t id = at + 4;
  if (size < 8 + static_cast<std::uint64_t>(f.offset_size())) f.bad("corrupt (short variable-length string)");
  const std::uint64_t length = f.uint(at, 4, "variable-length string");
  if (length == 0) return {};  // empty or null: libhdf5 reads no heap object either
  const std::uint64_t collection = f.absolute(f.offset(id, "global heap id"), "global heap");
  const std::uint64_t index = f.uint(id + f.offset_size(), 4, "global heap id");
  if (std::memcmp(f.bytes(collection, 4, "global heap"), "GCOL", 4) != 0)
    f.bad("corrupt (no global heap collection at byte ", collection, ")");
  const std::uint64_t collection_size = f.length(collection + 8, "global heap");
  f.need(collection, collection_size, "global heap");
  const std::uint64_t end = collection + collection_size;
  std::uint64_t p = collection + 8 + f.length_size();
  const std::uint64_t object_head = 8 + static_cast<std::uint64_t>(f.length_size());
  while (p + object_head <= end) {
    const std::uint64_t object = f.uint(p, 2, "global heap object");
    if (object == 0) break;  // the free space ends the collection
    const std::uint64_t bytes = f.length(p + 8, "global heap object");
    if (bytes > end - (p + object_head)) f.bad("corrupt (global heap object overruns its collection)");
    if (object == index) {
      if (length > bytes) f.bad("corrupt (string longer than its global heap object)");
      return {reinterpret_cast<const char*>(f.bytes(p + object_head, length, "global heap object")), length};
    }
    p += object_head + (bytes + 7) / 8 * 8;
  }
  f.bad("corrupt (global heap object ", index, " not found)");
}

}  // namespace

std::vector<std::string> list_datasets(const MappedFile& file) {
  const File f(file);
  std::vector<std::string> names;
  for (Member& m : f.members(f.messages(f.root()))) names.push_back(std::move(m.name));
  return names;
}

Tensor read_dataset(const MappedFile& file, const std::string& dataset) {
  const File f(file);
  const std::vector<Message> messages = f.messages(f.find(dataset));
  const Message* space = nullptr;
  const Message* type = nullptr;
  const Message* layout = nullptr;
  for (const Message& m : messages) {
    if (m.type == kDataspace) space = &m;
    if (m.type == kDatatype) type = &m;
    if (m.type == kLayout) layout = &m;
    if (m.type == kFilters)
      f.bad("dataset '", dataset, "' is compressed or filtered, which wma's built-in HDF5 reader does not read");
    if (m.type == kExternalFiles) f.bad("dataset '", dataset, "' is stored in external files");
  }
  if (space == nullptr || type == nullptr || layout == nullptr) f.bad("'", dataset, "' is not a dataset");
  const Datatype t = parse_datatype(f, type->at, type->size);
  if (t.cls != 0 && t.cls != 1) f.bad("dataset '", dataset, "' is not numeric");
  const Shape shape = parse_dataspace(f, space->at, space->size);
  const std::uint64_t n = checked_elements(f, shape, t.size, file.size());
  if (layout->size < 2) f.bad("corrupt (short layout message)");
  const auto version = f.uint(layout->at, 1, "layout");
  const auto cls = f.uint(layout->at + 1, 1, "layout");
  if (version < 3 || version > 4) f.bad("dataset '", dataset, "' has a layout message of version ", version);
  std::uint64_t data = 0, bytes = 0;
  if (cls == 0) {  // compact: the data inside the message
    if (layout->size < 4) f.bad("corrupt (short layout message)");
    bytes = f.uint(layout->at + 2, 2, "layout");
    data = layout->at + 4;
    if (bytes > layout->size - 4) f.bad("corrupt (compact data overruns its message)");
  } else if (cls == 1) {
    if (layout->size < 2 + static_cast<std::uint64_t>(f.offset_size()) + f.length_size())
      f.bad("corrupt (short layout message)");
    const std::uint64_t address = f.offset(layout->at + 2, "layout");
    bytes = f.length(layout->at + 2 + f.offset_size(), "layout");
    if (n > 0 && f.undefined(address))
      f.bad("dataset '", dataset, "' has no data written (its storage was never allocated)");
    if (n > 0) data = f.absolute(address, "dataset data");
  } else {
    f.bad("dataset '", dataset, "' is stored in chunks, which wma's built-in HDF5 reader does not read");
  }
  if (bytes < n * t.size) f.bad("corrupt (dataset '", dataset, "' stores fewer bytes than its shape needs)");
  Tensor out = Tensor::empty(shape, DType::F32);
  if (n == 0) return out;
  const std::uint8_t* src = f.bytes(data, n * t.size, "dataset data");
  float* dst = out.data<float>();
  for (std::uint64_t i = 0; i < n; ++i) dst[i] = element(src + i * t.size, t);
  return out;
}

std::string read_string_attribute(const MappedFile& file, const std::string& attribute) {
  const File f(file);
  for (const Message& m : f.messages(f.root())) {
    if (m.type != kAttribute) continue;
    if (m.size < 8) f.bad("corrupt (short attribute message)");
    const auto version = f.uint(m.at, 1, "attribute");
    if (version < 1 || version > 3) f.bad("attribute message version ", version);
    if (version >= 2 && (f.uint(m.at + 1, 1, "attribute") & 3) != 0) f.bad("shared attribute datatypes");
    const std::uint64_t name_size = f.uint(m.at + 2, 2, "attribute");
    const std::uint64_t type_size = f.uint(m.at + 4, 2, "attribute");
    const std::uint64_t space_size = f.uint(m.at + 6, 2, "attribute");
    // Version 1 pads the name, datatype and dataspace to 8 bytes; version 3 adds the name's character set.
    auto padded = [&](std::uint64_t v) { return version == 1 ? (v + 7) / 8 * 8 : v; };
    const std::uint64_t name_at = m.at + (version == 3 ? 9 : 8);
    const std::uint64_t type_at = name_at + padded(name_size);
    const std::uint64_t space_at = type_at + padded(type_size);
    const std::uint64_t data_at = space_at + padded(space_size);
    if (data_at > m.at + m.size) f.bad("corrupt (attribute message overruns itself)");
    if (name_size == 0) continue;
    const auto* name = reinterpret_cast<const char*>(f.bytes(name_at, name_size, "attribute name"));
    if (std::string(name, strnlen(name, name_size)) != attribute) continue;
    const Datatype t = parse_datatype(f, type_at, type_size);
    if (t.cls != 3 && !(t.cls == 9 && t.vlen_string)) f.bad("attribute '", attribute, "' is not a string");
    const std::uint64_t data_size = m.at + m.size - data_at;
    if (t.cls == 9) return vlen_string(f, data_at, data_size);
    if (t.size > data_size) f.bad("corrupt (attribute '", attribute, "' overruns its message)");
    const auto* chars = reinterpret_cast<const char*>(f.bytes(data_at, t.size, "attribute data"));
    std::string s(chars, strnlen(chars, t.size));
    if (t.string_padding == 2) s.erase(s.find_last_not_of(' ') + 1);
    return s;
  }
  return {};
}

}  // namespace wma::io::h5_builtin
