// libFuzzer target: a PyTorch zip checkpoint as `wma inspect --values`/`convert` open it (zip index, restricted
// pickle, tensor views). An input starting "PK" is the whole file; any other input is the pickle (data.pkl),
// wrapped here into an archive with valid CRCs and sixteen 512-byte storages "0".."15", so that mutations
// reach the pickle reader instead of dying at the CRC check.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_tensors.h"
#include "io/ckpt.h"

namespace {

void put_le(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
  std::uint8_t le[8];
  for (int i = 0; i < bytes; ++i) le[i] = static_cast<std::uint8_t>(v >> (8 * i));
  out.insert(out.end(), le, le + bytes);
}

struct Member {
  std::string name;
  std::vector<std::uint8_t> bytes;
  std::uint32_t crc;
};

Member member(std::string name, std::vector<std::uint8_t> bytes) {
  const std::uint32_t crc = wma::io::crc32(bytes.data(), bytes.size());
  return {std::move(name), std::move(bytes), crc};
}

// The members after data.pkl, with their CRCs computed once: building them per execution was most of its time.
const std::vector<Member>& fixed_members() {
  static const std::vector<Member> members = [] {
    std::vector<Member> m;
    m.push_back(member("archive/byteorder", {'l', 'i', 't', 't', 'l', 'e'}));
    for (int k = 0; k < 16; ++k) {
      std::vector<std::uint8_t> storage(512);
      for (std::size_t i = 0; i < storage.size(); ++i) storage[i] = static_cast<std::uint8_t>(i * 37 + k);
      m.push_back(member("archive/data/" + std::to_string(k), std::move(storage)));
    }
    return m;
  }();
  return members;
}

// A stored (uncompressed) zip archive as torch.save writes one, without its alignment padding.
std::vector<std::uint8_t> zip_archive(const Member& first, const std::vector<Member>& rest) {
  std::vector<std::uint8_t> out, directory;
  out.reserve(first.bytes.size() + 16384);
  auto add = [&](const Member& m) {
    const std::size_t offset = out.size();
    put_le(out, 0x04034b50, 4);
    put_le(out, 20, 2), put_le(out, 0, 2), put_le(out, 0, 2), put_le(out, 0, 4);  // version, flags, stored, time
    put_le(out, m.crc, 4), put_le(out, m.bytes.size(), 4), put_le(out, m.bytes.size(), 4);
    put_le(out, m.name.size(), 2), put_le(out, 0, 2);
    out.insert(out.end(), m.name.begin(), m.name.end());
    out.insert(out.end(), m.bytes.begin(), m.bytes.end());
    put_le(directory, 0x02014b50, 4);
    put_le(directory, 20, 2), put_le(directory, 20, 2), put_le(directory, 0, 2), put_le(directory, 0, 2);
    put_le(directory, 0, 4), put_le(directory, m.crc, 4), put_le(directory, m.bytes.size(), 4);
    put_le(directory, m.bytes.size(), 4), put_le(directory, m.name.size(), 2);
    put_le(directory, 0, 2), put_le(directory, 0, 2), put_le(directory, 0, 2), put_le(directory, 0, 2);
    put_le(directory, 0, 4), put_le(directory, offset, 4);
    directory.insert(directory.end(), m.name.begin(), m.name.end());
  };
  add(first);
  for (const Member& m : rest) add(m);
  const std::size_t directory_offset = out.size();
  const std::size_t count = 1 + rest.size();
  out.insert(out.end(), directory.begin(), directory.end());
  put_le(out, 0x06054b50, 4), put_le(out, 0, 2), put_le(out, 0, 2);
  put_le(out, count, 2), put_le(out, count, 2);
  put_le(out, directory.size(), 4), put_le(out, directory_offset, 4), put_le(out, 0, 2);
  return out;
}

std::vector<std::uint8_t> checkpoint_bytes(const std::uint8_t* data, std::size_t size) {
  if (size >= 2 && data[0] == 'P' && data[1] == 'K') return {data, data + size};
  return zip_archive(member("archive/data.pkl", {data, data + size}), fixed_members());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace wma;
  try {
    auto file = io::MappedFile::from_bytes("fuzz.ckpt", checkpoint_bytes(data, size));
    auto source = std::make_unique<io::CkptSource>(std::move(file));
    fuzz::read_every_tensor(*source);
    const io::WeightStore store(std::move(source));
    for (const std::string& key : store.keys()) store.find(key);
  } catch (const Error&) {
  }
  return 0;
}
