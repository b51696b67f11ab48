// The native .ckpt reader against the listings torch wrote, the WeightStore quirks, the
// restricted pickle VM and the zip parser (zip64 included), and refusal of bad files.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "io/ckpt.h"
#include "io/pickle.h"
#include "io/weight_store.h"
#include "io/zip.h"
#include "io_test_util.h"

namespace wma::io {
namespace {

using testing::data_path;
using testing::read_listing;
using testing::temp_dir;

std::string error_of(const std::string& path) {
  try {
    open_tensor_file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_matches_listing(const TensorSource& source, const std::string& listing) {
  const auto expected = read_listing(listing);
  ASSERT_EQ(source.tensors().size(), expected.size()) << listing;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& want = expected[i];
    const auto& got = source.tensors()[i];
    SCOPED_TRACE(want.name);
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(dtype_name(got.dtype), want.dtype);
    EXPECT_EQ(got.shape, want.shape);
    const Tensor t = source.load(got.name);
    EXPECT_EQ(t.dtype(), got.dtype);
    EXPECT_EQ(t.shape(), got.shape);
    ASSERT_EQ(static_cast<std::size_t>(t.numel()), want.values.size());
    if (dtype_is_float(t.dtype())) {
      const auto v = t.to_floats();
      for (std::size_t k = 0; k < v.size(); ++k) EXPECT_EQ(v[k], static_cast<float>(want.values[k])) << k;
    } else {
      const auto v = t.to_ints();
      for (std::size_t k = 0; k < v.size(); ++k) EXPECT_EQ(v[k], static_cast<std::int64_t>(want.values[k])) << k;
    }
  }
}

TEST(Ckpt, MatchesTorchListings) {
  for (const char* name : {"lightning", "deepspeed", "nested"}) {
    SCOPED_TRACE(name);
    const auto source = open_tensor_file(data_path(std::string(name) + ".ckpt"));
    EXPECT_NE(dynamic_cast<CkptSource*>(source.get()), nullptr);
    expect_matches_listing(*source, name);
  }
}

TEST(Ckpt, SharedStoragesAndStridedViews) {
  CkptSource s(data_path("lightning.ckpt"));
  EXPECT_EQ(s.format(), "pytorch zip checkpoint (lightning state_dict)");
  const Tensor a = s.load("shared.a");
  const Tensor b = s.load("shared.b");
  EXPECT_EQ(a.storage()->data, b.storage()->data);  // both view one mapped storage
  EXPECT_EQ(a.offset(), 2);
  EXPECT_EQ(b.offset(), 20);
  const Tensor t = s.load("transposed.weight");
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.strides(), (Shape{1, 4}));
  const WeightStore store(std::make_unique<CkptSource>(data_path("lightning.ckpt")));
  const Tensor c = store.load("transposed.weight");
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.to_floats(), t.to_floats());
}

TEST(Ckpt, StemNamedRootFolder) {
  CkptSource s(data_path("stem_root.ckpt"));
  EXPECT_EQ(s.load("w").to_floats(), (std::vector<float>{1, 3, 2, 4}));
}

TEST(WeightStore, LightningRenamesFramestrideEmbed) {
  const WeightStore store = WeightStore::open(data_path("lightning.ckpt"));
  EXPECT_TRUE(store.contains("model.diffusion_model.fps_embedding.0.weight"));
  EXPECT_FALSE(store.contains("model.diffusion_model.framestride_embed.0.weight"));
  EXPECT_EQ(store.source_name("model.diffusion_model.fps_embedding.0.weight"),
            "model.diffusion_model.framestride_embed.0.weight");
  EXPECT_EQ(store.keys().size(), 12u);
  EXPECT_EQ(store.find("index_map")->dtype, DType::I64);
  EXPECT_EQ(store.load("model.diffusion_model.fps_embedding.0.weight").shape(), (Shape{3, 2}));
  try {
    store.load("model.missing.weight");
    ADD_FAILURE() << "missing key loaded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(data_path("lightning.ckpt")), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.missing.weight"), std::string::npos) << msg;
  }
}

TEST(WeightStore, DeepSpeedPrefixIsStripped) {
  const WeightStore store = WeightStore::open(data_path("deepspeed.ckpt"));
  EXPECT_EQ(store.source().key_layout(), KeyLayout::DeepSpeed);
  const auto keys = store.keys();
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0], "model.diffusion_model.out.2.weight");
  EXPECT_EQ(keys[2], "state_projector.projector.0.weight");
  EXPECT_EQ(store.load("model.diffusion_model.out.2.bias").dtype(), DType::F16);
}

TEST(Ckpt, BadFilesAreRefusedNamingFileAndProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {"malicious.ckpt", "refusing the pickle global 'posix.system'"},
      {"short_storage.ckpt", "storage too short"},
      {"truncated.ckpt", "truncated"},
      {"compressed.ckpt", "is compressed"},
  };
  for (const auto& [file, problem] : cases) {
    const std::string msg = error_of(data_path(file));
    EXPECT_NE(msg.find(problem), std::string::npos) << file << ": " << msg;
    EXPECT_NE(msg.find(data_path(file)), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

// --- restricted pickle VM ---

pickle::Document unpickle_text(const std::string& bytes) {
  return pickle::unpickle(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "test.pkl");
}

std::string pickle_error(const std::string& bytes) {
  try {
    unpickle_text(bytes);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out += static_cast<char>(v);
  return out;
}

TEST(Pickle, BuildsPlainData) {
  // {'a': [1, -2, 300, 70000], 'b': (True, None, 2.5), 'c': b'xy', 'd': <memo 1>, 'e': LONG1 -32768}
  const std::string p =
      bytes({0x80, 2,   '}', 'q', 0,    '(',  'X',  1,    0,    0,    0,    'a',  'q',  1,    ']',  'q',  2,
             '(',  'K', 1,   'J', 0xfe, 0xff, 0xff, 0xff, 'M',  0x2c, 0x01, 'J',  0x70, 0x11, 0x01, 0x00, 'e',
             'X',  1,   0,   0,   0,    'b',  0x88, 'N',  'G',  0x40, 0x04, 0,    0,    0,    0,    0,    0,
             0x87, 'X', 1,   0,   0,    0,    'c',  'C',  2,    'x',  'y',  'X',  1,    0,    0,    0,    'd',
             'h',  1,   'X', 1,   0,    0,    0,    'e',  0x8a, 2,    0x00, 0x80, 'u',  '.'});
  const auto doc = unpickle_text(p);
  const pickle::Object* root = doc.root();
  ASSERT_EQ(root->kind, pickle::Object::Kind::Dict);
  ASSERT_EQ(root->entries().size(), 5u);
  const auto& list = root->entries()[0].second->items();
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[1]->integer, -2);
  EXPECT_EQ(list[2]->integer, 300);
  EXPECT_EQ(list[3]->integer, 70000);
  const auto& tup = root->entries()[1].second->items();
  ASSERT_EQ(tup.size(), 3u);
  EXPECT_TRUE(tup[0]->boolean);
  EXPECT_EQ(tup[1]->kind, pickle::Object::Kind::None);
  EXPECT_EQ(tup[2]->real, 2.5);
  EXPECT_EQ(root->entries()[2].second->kind, pickle::Object::Kind::Bytes);
  EXPECT_EQ(root->entries()[2].second->text, "xy");
  EXPECT_EQ(root->entries()[3].second->text, "a");        // BINGET of the memoised key
  EXPECT_EQ(root->entries()[4].second->integer, -32768);  // LONG1 is two's complement
}

TEST(Pickle, RefusesDisallowedGlobalsAndBadStreams) {
  EXPECT_NE(pickle_error("\x80\x02"
                         "cos\nsystem\nX\x02\x00\x00\x00lsR.")
                .find("refusing the pickle global 'os.system'"),
            std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02"
                         "c__builtin__\neval\n.")
                .find("'builtins.eval'"),
            std::string::npos);
  EXPECT_NE(pickle_error("\x80\x04\x8c\x0asubprocess\x8c\x05Popen\x93.").find("'subprocess.Popen'"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02}").find("truncated"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02\xff").find("unsupported pickle opcode 0xff"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02h\x05.").find("memo index 5"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02s.").find("stack underflow"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02X\xff\xff\xff\x7f").find("truncated"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02NN.").find("instead of one"), std::string::npos);
  EXPECT_NE(pickle_error("\x80\x02NNa.").find("APPEND on a value that is not a list"), std::string::npos);
  // A persistent id that is not a storage tuple.
  EXPECT_NE(pickle_error("\x80\x02NQ.").find("persistent id"), std::string::npos);
}

TEST(Pickle, SelfReferenceDoesNotLeakOrLoop) {
  // l = []; l.append(l)
  const auto doc = unpickle_text(bytes({0x80, 2, ']', 'q', 0, 'h', 0, 'a', '.'}));
  EXPECT_EQ(doc.root()->items().at(0), doc.root());
}

// --- zip container ---

struct Member {
  std::string name;
  std::string data;
  std::uint16_t method = 0;
};

void put(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

// A zip archive; with zip64 every size and offset goes through the zip64 extra field and end records.
std::string build_zip(const std::vector<Member>& members, bool zip64) {
  std::string out;
  std::string cd;
  for (const auto& m : members) {
    const std::uint64_t local = out.size();
    const auto crc = crc32(reinterpret_cast<const std::uint8_t*>(m.data.data()), m.data.size());
    put(out, 0x04034b50, 4);
    put(out, 45, 2);
    put(out, 0, 2);
    put(out, m.method, 2);
    put(out, 0, 4);
    put(out, crc, 4);
    put(out, zip64 ? 0xffffffffu : m.data.size(), 4);
    put(out, zip64 ? 0xffffffffu : m.data.size(), 4);
    put(out, m.name.size(), 2);
    put(out, zip64 ? 20 : 0, 2);
    out += m.name;
    if (zip64) {
      put(out, 1, 2);
      put(out, 16, 2);
      put(out, m.data.size(), 8);
      put(out, m.data.size(), 8);
    }
    out += m.data;
    put(cd, 0x02014b50, 4);
    put(cd, 45, 2);
    put(cd, 45, 2);
    put(cd, 0, 2);
    put(cd, m.method, 2);
    put(cd, 0, 4);
    put(cd, crc, 4);
    put(cd, zip64 ? 0xffffffffu : m.data.size(), 4);
    put(cd, zip64 ? 0xffffffffu : m.data.size(), 4);
    put(cd, m.name.size(), 2);
    put(cd, zip64 ? 28 : 0, 2);
    put(cd, 0, 2);
    put(cd, 0, 2);
    put(cd, 0, 2);
    put(cd, 0, 4);
    put(cd, zip64 ? 0xffffffffu : local, 4);
    cd += m.name;
    if (zip64) {
      put(cd, 1, 2);
      put(cd, 24, 2);
      put(cd, m.data.size(), 8);
      put(cd, m.data.size(), 8);
      put(cd, local, 8);
    }
  }
  const std::uint64_t cd_offset = out.size();
  out += cd;
  if (zip64) {
    const std::uint64_t rec = out.size();
    put(out, 0x06064b50, 4);
    put(out, 44, 8);
    put(out, 45, 2);
    put(out, 45, 2);
    put(out, 0, 4);
    put(out, 0, 4);
    put(out, members.size(), 8);
    put(out, members.size(), 8);
    put(out, cd.size(), 8);
    put(out, cd_offset, 8);
    put(out, 0x07064b50, 4);
    put(out, 0, 4);
    put(out, rec, 8);
    put(out, 1, 4);
  }
  put(out, 0x06054b50, 4);
  put(out, 0, 2);
  put(out, 0, 2);
  put(out, zip64 ? 0xffff : members.size(), 2);
  put(out, zip64 ? 0xffff : members.size(), 2);
  put(out, zip64 ? 0xffffffffu : cd.size(), 4);
  put(out, zip64 ? 0xffffffffu : cd_offset, 4);
  put(out, 0, 2);
  return out;
}

std::vector<ZipEntry> index_of(const std::string& zip) {
  return read_zip_index(reinterpret_cast<const std::uint8_t*>(zip.data()), zip.size(), "t.zip");
}

std::string zip_error(const std::string& zip) {
  try {
    index_of(zip);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The members of a committed checkpoint, to rebuild it in other containers.
std::vector<Member> members_of(const std::string& path) {
  const std::string bytes = testing::read_text(path);
  std::vector<Member> out;
  for (const auto& e : index_of(bytes)) out.push_back({e.name, bytes.substr(e.data_offset, e.size)});
  return out;
}

TEST(Zip, Zip64RecordsAndExtraFields) {
  const std::vector<Member> members = {{"a/x", "hello"}, {"a/y", std::string(100, 'z')}};
  for (bool zip64 : {false, true}) {
    const std::string zip = build_zip(members, zip64);
    const auto idx = index_of(zip);
    ASSERT_EQ(idx.size(), 2u);
    EXPECT_EQ(idx[0].name, "a/x");
    EXPECT_EQ(zip.substr(idx[0].data_offset, idx[0].size), "hello");
    EXPECT_EQ(idx[1].size, 100u);
  }
  // A whole checkpoint rebuilt as zip64 reads the same.
  const auto dir = temp_dir("zip");
  const auto path = (dir / "z64.ckpt").string();
  std::ofstream(path, std::ios::binary) << build_zip(members_of(data_path("stem_root.ckpt")), true);
  CkptSource s(path);
  EXPECT_EQ(s.load("w").to_floats(), (std::vector<float>{1, 3, 2, 4}));
}

TEST(Zip, RefusesMalformedArchives) {
  const std::string good = build_zip({{"a/x", "hello"}}, false);
  EXPECT_NE(zip_error(build_zip({{"a/x", "hello", 8}}, false)).find("is compressed (method 8)"), std::string::npos);
  EXPECT_NE(zip_error(good.substr(0, good.size() - 3)).find("end of central directory record not found"),
            std::string::npos);
  EXPECT_NE(zip_error("PK").find("truncated"), std::string::npos);
  std::string renamed = good;
  renamed[30] = 'b';  // the local header's copy of the name
  EXPECT_NE(zip_error(renamed).find("local header name differs"), std::string::npos);
  std::string bad_local = good;
  bad_local[0] = 'Q';
  EXPECT_NE(zip_error(bad_local).find("bad local header signature"), std::string::npos);
  const std::string z64 = build_zip({{"a/x", "hello"}}, true);
  std::string no_locator = z64;
  no_locator[no_locator.size() - 22 - 20] = 'X';
  EXPECT_NE(zip_error(no_locator).find("zip64 end of central directory locator missing"), std::string::npos);
  EXPECT_NE(zip_error(std::string(100, 'x')).find("not a zip"), std::string::npos);
}

TEST(Ckpt, CorruptPickleFailsItsCrc) {
  const auto members = members_of(data_path("stem_root.ckpt"));
  std::string zip = build_zip(members, false);
  for (const auto& e : index_of(zip))
    if (e.name == "stem_root/data.pkl") zip[e.data_offset + 5] ^= 1;  // the directory keeps the old CRC
  const auto path = (temp_dir("zip") / "crc.ckpt").string();
  std::ofstream(path, std::ios::binary) << zip;
  const std::string msg = error_of(path);
  EXPECT_NE(msg.find("CRC"), std::string::npos) << msg;
}

// A checkpoint whose only tensor 'w' is _rebuild_tensor_v2(<float storage '0' of 4 elements>, offset, size, stride),
// pickled by hand so that any size, stride and offset can be written.
std::string strided_ckpt(std::int64_t offset, const std::vector<std::int64_t>& size,
                         const std::vector<std::int64_t>& stride) {
  const auto text = [](std::string& p, const std::string& s) {
    p += 'X';
    put(p, s.size(), 4);
    p += s;
  };
  const auto integer = [](std::string& p, std::int64_t v) {
    p += '\x8a';
    p += '\x08';
    put(p, static_cast<std::uint64_t>(v), 8);
  };
  std::string p = "\x80\x02}(";
  text(p, "w");
  p += "ctorch._utils\n_rebuild_tensor_v2\n((";
  text(p, "storage");
  p += "ctorch\nFloatStorage\n";
  text(p, "0");
  text(p, "cpu");
  integer(p, 4);
  p += "tQ";
  integer(p, offset);
  p += '(';
  for (auto v : size) integer(p, v);
  p += "t(";
  for (auto v : stride) integer(p, v);
  p += "t\x89"
       "ccollections\nOrderedDict\n)RtRu.";
  const float data[4] = {1, 2, 3, 4};
  return build_zip({{"a/data.pkl", p}, {"a/data/0", std::string(reinterpret_cast<const char*>(data), sizeof(data))}},
                   false);
}

TEST(Ckpt, WrappingSizesAndStridesAreRefused) {
  const auto path = (temp_dir("ckpt") / "strided.ckpt").string();
  std::ofstream(path, std::ios::binary) << strided_ckpt(1, {3}, {1});
  EXPECT_EQ(CkptSource(path).load("w").to_floats(), (std::vector<float>{2, 3, 4}));
  struct Case {
    std::int64_t offset;
    std::vector<std::int64_t> size, stride;
    std::string problem;
  };
  const Case cases[] = {
      // (2^33 + 1 - 1) * 2^31 wraps to 0: the view would claim element 2^31 of a 4-element storage.
      {0, {(std::int64_t{1} << 33) + 1}, {std::int64_t{1} << 31}, "overflows 64-bit arithmetic"},
      // 2^16 * 2^48 elements wrap to 0.
      {0, {1 << 16, std::int64_t{1} << 48}, {0, 0}, "overflows 64-bit arithmetic"},
      {std::int64_t{1} << 62, {3}, {INT64_MAX}, "overflows 64-bit arithmetic"},
      {0, {2}, {-1}, "negative size or stride"},
      {0, {-2}, {1}, "negative size or stride"},
      {0, {64}, {0}, ""},  // a broadcast view is fine while its copy fits in the file's size
      // `inspect --values` copied this 4 TiB view of a 4-byte storage (fuzz/corpus/fuzz_ckpt/broadcast_2e40_*.pkl).
      {0, {std::int64_t{1} << 40}, {0}, "more than the file's"},
      {0, {std::int64_t{1} << 50}, {0}, "more than the file's"},
      {2, {2, 2}, {1, 1}, "storage too short"},
  };
  for (const auto& c : cases) {
    std::ofstream(path, std::ios::binary) << strided_ckpt(c.offset, c.size, c.stride);
    const std::string msg = error_of(path);
    SCOPED_TRACE(shape_str(c.size) + " / " + shape_str(c.stride));
    if (c.problem.empty()) {
      EXPECT_EQ(msg, "");
      continue;
    }
    EXPECT_NE(msg.find(c.problem), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("tensor 'w'"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace wma::io
