// Zip central-directory reader (APPNOTE 6.3): end record found by scanning back over a possible
// comment, zip64 locator/record when 32-bit fields saturate, zip64 extra fields per entry.
#include "io/zip.h"

#include <array>

#include "core/error.h"

namespace wma::io {

namespace {

constexpr std::uint32_t kLocalSig = 0x04034b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kEndSig = 0x06054b50;
constexpr std::uint32_t kEnd64Sig = 0x06064b50;
constexpr std::uint32_t kEnd64LocatorSig = 0x07064b50;
constexpr std::size_t kEndSize = 22;
constexpr std::size_t kEnd64LocatorSize = 20;
constexpr std::size_t kEnd64Size = 56;
constexpr std::size_t kCentralSize = 46;
constexpr std::size_t kLocalSize = 30;

// Bounds-checked little-endian reads over the archive.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  void need(std::uint64_t offset, std::uint64_t n, const char* what) const {
    WMA_CHECK(offset <= size_ && n <= size_ - offset, "[zip] ", path_, ": truncated archive: ", what, " at offset ",
              offset, " runs past the end of the file (", size_, " bytes)");
  }
  std::uint64_t le(std::uint64_t offset, int bytes) const {
    need(offset, static_cast<std::uint64_t>(bytes), "field");
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | data_[offset + static_cast<std::uint64_t>(i)];
    return v;
  }
  std::uint16_t u16(std::uint64_t o) const { return static_cast<std::uint16_t>(le(o, 2)); }
  std::uint32_t u32(std::uint64_t o) const { return static_cast<std::uint32_t>(le(o, 4)); }
  std::uint64_t u64(std::uint64_t o) const { return le(o, 8); }
  std::size_t size() const { return size_; }
  const std::uint8_t* data() const { return data_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  const std::string& path_;
};

}  // namespace

bool looks_like_zip(const std::uint8_t* data, std::size_t size) {
  return size >= 4 && data[0] == 'P' && data[1] == 'K' && data[2] == 3 && data[3] == 4;
}

std::uint32_t crc32(const std::uint8_t* data, std::size_t size) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xffffffffu;
  for (std::size_t i = 0; i < size; ++i) c = table[(c ^ data[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

std::vector<ZipEntry> read_zip_index(const std::uint8_t* data, std::size_t size, const std::string& path) {
  const Reader r(data, size, path);
  WMA_CHECK(size >= kEndSize, "[zip] ", path, ": truncated archive: ", size,
            " bytes cannot hold an end of central directory record");
  // The end record sits in the last 22 + 65535 bytes (its comment is at most 64 KiB).
  std::uint64_t end = 0;
  bool found = false;
  const std::uint64_t lowest = size > kEndSize + 0xffff ? size - kEndSize - 0xffff : 0;
  for (std::uint64_t o = size - kEndSize + 1; o-- > lowest;) {
    if (r.u32(o) == kEndSig && o + kEndSize + r.u16(o + 20) == size) {
      end = o;
      found = true;
      break;
    }
  }
  WMA_CHECK(found, "[zip] ", path, ": truncated or not a zip archive: end of central directory record not found");

  std::uint64_t count = r.u16(end + 10);
  std::uint64_t cd_size = r.u32(end + 12);
  std::uint64_t cd_offset = r.u32(end + 16);
  WMA_CHECK(r.u16(end + 4) == 0 && r.u16(end + 6) == 0, "[zip] ", path, ": multi-disk archives are not supported");
  if (count == 0xffff || cd_size == 0xffffffffu || cd_offset == 0xffffffffu) {
    WMA_CHECK(end >= kEnd64LocatorSize && r.u32(end - kEnd64LocatorSize) == kEnd64LocatorSig, "[zip] ", path,
              ": zip64 end of central directory locator missing");
    const std::uint64_t rec = r.u64(end - kEnd64LocatorSize + 8);
    r.need(rec, kEnd64Size, "zip64 end of central directory record");
    WMA_CHECK(r.u32(rec) == kEnd64Sig, "[zip] ", path, ": bad zip64 end of central directory signature at offset ",
              rec);
    count = r.u64(rec + 32);
    cd_size = r.u64(rec + 40);
    cd_offset = r.u64(rec + 48);
  }
  r.need(cd_offset, cd_size, "central directory");
  // Each central entry takes at least 46 bytes, which bounds `count` before we reserve.
  WMA_CHECK(count <= cd_size / kCentralSize, "[zip] ", path, ": central directory of ", cd_size, " bytes cannot hold ",
            count, " entries");

  std::vector<ZipEntry> entries;
  entries.reserve(static_cast<std::size_t>(count));
  std::uint64_t o = cd_offset;
  const std::uint64_t cd_end = cd_offset + cd_size;
  for (std::uint64_t i = 0; i < count; ++i) {
    WMA_CHECK(o + kCentralSize <= cd_end, "[zip] ", path, ": central directory entry ", i, " overruns the directory");
    WMA_CHECK(r.u32(o) == kCentralSig, "[zip] ", path, ": bad central directory signature for entry ", i, " at offset ",
              o);
    const std::uint16_t flags = r.u16(o + 8);
    const std::uint16_t method = r.u16(o + 10);
    ZipEntry e;
    e.crc32 = r.u32(o + 16);
    std::uint64_t comp = r.u32(o + 20);
    std::uint64_t uncomp = r.u32(o + 24);
    const std::uint16_t name_len = r.u16(o + 28);
    const std::uint16_t extra_len = r.u16(o + 30);
    const std::uint16_t comment_len = r.u16(o + 32);
    std::uint64_t local = r.u32(o + 42);
    WMA_CHECK(o + kCentralSize + name_len + extra_len + comment_len <= cd_end, "[zip] ", path,
              ": central directory entry ", i, " overruns the directory");
    e.name.assign(reinterpret_cast<const char*>(data + o + kCentralSize), name_len);
    // zip64 extra field: only the saturated fields are present, in this fixed order.
    std::uint64_t x = o + kCentralSize + name_len;
    const std::uint64_t x_end = x + extra_len;
    while (x + 4 <= x_end) {
      const std::uint16_t id = r.u16(x);
      const std::uint16_t len = r.u16(x + 2);
      WMA_CHECK(x + 4 + len <= x_end, "[zip] ", path, ": entry '", e.name, "' has a malformed extra field");
      if (id == 0x0001) {
        std::uint64_t p = x + 4;
        const auto take = [&](std::uint64_t& field) {
          WMA_CHECK(p + 8 <= x + 4 + len, "[zip] ", path, ": entry '", e.name, "' has a short zip64 extra field");
          field = r.u64(p);
          p += 8;
        };
        if (uncomp == 0xffffffffu) take(uncomp);
        if (comp == 0xffffffffu) take(comp);
        if (local == 0xffffffffu) take(local);
      }
      x += 4 + len;
    }
    WMA_CHECK((flags & 1) == 0, "[zip] ", path, ": entry '", e.name, "' is encrypted");
    WMA_CHECK(method == 0, "[zip] ", path, ": entry '", e.name, "' is compressed (method ", method,
              "); only stored entries are supported, as torch.save writes them");
    WMA_CHECK(comp == uncomp, "[zip] ", path, ": stored entry '", e.name, "' has compressed size ", comp, " != size ",
              uncomp);

    r.need(local, kLocalSize, "local file header");
    WMA_CHECK(r.u32(local) == kLocalSig, "[zip] ", path, ": bad local header signature for entry '", e.name,
              "' at offset ", local);
    WMA_CHECK(r.u16(local + 8) == 0, "[zip] ", path, ": local header of entry '", e.name, "' says it is compressed");
    const std::uint16_t lname = r.u16(local + 26);
    const std::uint16_t lextra = r.u16(local + 28);
    r.need(local + kLocalSize, lname, "local file name");
    WMA_CHECK(std::string_view(reinterpret_cast<const char*>(data + local + kLocalSize), lname) == e.name, "[zip] ",
              path, ": local header name differs from the central directory for entry '", e.name, "'");
    e.data_offset = local + kLocalSize + lname + lextra;
    e.size = uncomp;
    r.need(e.data_offset, e.size, "entry data");
    WMA_CHECK(e.data_offset + e.size <= cd_offset || local >= cd_end, "[zip] ", path, ": data of entry '", e.name,
              "' overlaps the central directory");
    entries.push_back(std::move(e));
    o += kCentralSize + name_len + extra_len + comment_len;
  }
  return entries;
}

}  // namespace wma::io
