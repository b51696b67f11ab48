// models/clip_tokenizer against open_clip v2.22.0's tokenize(): exact ids for every prompt of
// tests/fixtures/clip_text.safetensors (written by tools/reference from upstream), plus the
// cleaning and pre-tokenising rules on inputs the fixture prompts do not reach.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "io/gzip.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "models/clip_tokenizer.h"
#include "util/test_data.h"

namespace wma::models {
namespace {

std::filesystem::path source_dir() {
  const char* dir = std::getenv("WMA_SOURCE_DIR");
  return dir ? dir : ".";
}

const ClipTokenizer* tokenizer() {
  static const ClipTokenizer* tok = [] {
    const auto path = test_data::bpe_vocab();
    return std::filesystem::exists(path) ? new ClipTokenizer(ClipTokenizer::load(path.string())) : nullptr;
  }();
  return tok;
}

TEST(ClipTokenizer, FixturePromptsGiveUpstreamIds) {
  WMA_REQUIRE_BPE();
  const auto path = source_dir() / "tests/fixtures/clip_text.safetensors";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "fixture " << path << " not generated yet";
  const io::SafetensorsSource fx(path.string());
  const io::json::Value* prompts_json = nullptr;
  for (const auto& [k, v] : fx.metadata())
    if (k == "prompts") prompts_json = &v;
  ASSERT_NE(prompts_json, nullptr) << "fixture metadata has no 'prompts'";
  const io::json::Value prompts = io::json::parse(prompts_json->as_string());
  const Tensor expected = fx.load("input.tokens");
  ASSERT_EQ(expected.size(0), static_cast<std::int64_t>(prompts.as_array().size()));
  const std::vector<std::int64_t> want = expected.to_ints();
  int mismatched = 0;
  for (std::size_t i = 0; i < prompts.as_array().size(); ++i) {
    const std::string& prompt = prompts.as_array()[i].as_string();
    const std::vector<std::int64_t> got = tokenizer()->tokenize(prompt);
    const std::vector<std::int64_t> ref(want.begin() + static_cast<std::ptrdiff_t>(i * 77),
                                        want.begin() + static_cast<std::ptrdiff_t>((i + 1) * 77));
    if (got != ref) ++mismatched;
    EXPECT_EQ(got, ref) << "prompt " << i << ": '" << prompt << "'";
  }
  std::printf("[tokenizer] %zu fixture prompts, %d mismatched\n", prompts.as_array().size(), mismatched);
}

TEST(ClipTokenizer, SpecialSequences) {
  WMA_REQUIRE_BPE();
  const ClipTokenizer& tok = *tokenizer();
  EXPECT_EQ(tok.vocab_size(), 49408);
  std::vector<std::int64_t> empty(77, 0);
  empty[0] = ClipTokenizer::kStartOfText;
  empty[1] = ClipTokenizer::kEndOfText;
  EXPECT_EQ(tok.tokenize(""), empty);
  EXPECT_EQ(tok.tokenize(" \t\n "), empty);
  // Over-long input: cut to 77 with EOT last.
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "robot ";
  const auto ids = tok.tokenize(long_text);
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids.front(), ClipTokenizer::kStartOfText);
  EXPECT_EQ(ids.back(), ClipTokenizer::kEndOfText);
  EXPECT_EQ(ids[75], ids[1]);
  // The special-token strings in text become the special ids (case-insensitively, as upstream's regex).
  EXPECT_EQ(tok.encode("<START_of_text>"), (std::vector<int>{ClipTokenizer::kStartOfText}));
  const Tensor batch = tok.tokenize(std::vector<std::string>{"a", ""});
  EXPECT_EQ(batch.shape(), (Shape{2, 77}));
  EXPECT_EQ(batch.dtype(), DType::I64);
}

TEST(ClipTokenizer, PlainTextVocabularyEqualsGzip) {
  WMA_REQUIRE_BPE();
  const std::string text = io::read_file_maybe_gzip(test_data::bpe_vocab().string());
  const auto plain = std::filesystem::temp_directory_path() / "wma_test_bpe_vocab.txt";
  std::ofstream(plain, std::ios::binary) << text;
  const ClipTokenizer from_txt = ClipTokenizer::load(plain.string());
  std::filesystem::remove(plain);
  for (const char* s : {"Pack black camera into box.", "naïve café 日本語 🤖"})
    EXPECT_EQ(from_txt.tokenize(s), tokenizer()->tokenize(s)) << s;
}

TEST(ClipCleanText, HtmlUnescapeTwiceStripCollapseLower) {
  EXPECT_EQ(clip_clean_text("  Hello,\t\tWORLD \n"), "hello, world");
  EXPECT_EQ(clip_clean_text("&amp;lt;b&amp;gt;"), "<b>");         // two rounds of html.unescape
  EXPECT_EQ(clip_clean_text("&amp;amp;amp;"), "&amp;");           // ... and no third
  EXPECT_EQ(clip_clean_text("fish &amp chips"), "fish & chips");  // entity without ';'
  EXPECT_EQ(clip_clean_text("&notit;"), "\xc2\xacit;");           // longest known prefix (&not)
  EXPECT_EQ(clip_clean_text("&#65;&#x42;&#X63"), "abc");
  EXPECT_EQ(clip_clean_text("&#150;"), "\xe2\x80\x93");  // windows-1252 remap of C1 references
  EXPECT_EQ(clip_clean_text("&#0;"), "\xef\xbf\xbd");
  EXPECT_EQ(clip_clean_text("&#xD800;x"), "\xef\xbf\xbdx");
  EXPECT_EQ(clip_clean_text("a&#1;b"), "ab");  // invalid code point: dropped
  EXPECT_EQ(clip_clean_text("&unknown; & ;"), "&unknown; & ;");
  EXPECT_EQ(clip_clean_text("a\xc2\xa0\xe3\x80\x80"
                            "b"),
            "a b");  // NBSP + ideographic space are \s
  EXPECT_EQ(clip_clean_text("\x1c"
                            "a\x1c"
                            "b\x1f"),
            "a\x1c"
            "b");  // isspace() strips, \s does not match
  EXPECT_EQ(clip_clean_text("\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3"),
            "\xce\xbf\xce\xb4\xce\xbf\xcf\x82 \xcf\x83");  // final sigma
  EXPECT_EQ(clip_clean_text("\xc4\xb0"), "i\xcc\x87");     // U+0130 lowers to two code points
  EXPECT_EQ(clip_clean_text("bad \xff utf8"), "bad \xef\xbf\xbd utf8");
  // ftfy's uncurl_quotes: U+2018..U+201B -> ', U+201C..U+201F -> ".
  EXPECT_EQ(clip_clean_text("\xe2\x80\x9c"
                            "don\xe2\x80\x99"
                            "t\xe2\x80\x9d"),
            "\"don't\"");
}

TEST(ClipPretokenize, RegexAlternativesInOrder) {
  using V = std::vector<std::string>;
  EXPECT_EQ(clip_pretokenize("don't we'll"), (V{"don", "'t", "we", "'ll"}));
  EXPECT_EQ(clip_pretokenize("it's 3.14!!"), (V{"it", "'s", "3", ".", "1", "4", "!!"}));
  EXPECT_EQ(clip_pretokenize("a_b<start_of_text>c"), (V{"a", "_", "b", "<start_of_text>", "c"}));
  EXPECT_EQ(clip_pretokenize("\xe6\x97\xa5\xe6\x9c\xac"
                             "2\xc2\xb2"),
            (V{"\xe6\x97\xa5\xe6\x9c\xac", "2", "\xc2\xb2"}));
  EXPECT_EQ(clip_pretokenize("x'\xc5\xbf"), (V{"x", "'\xc5\xbf"}));  // IGNORECASE: 's also matches 'ſ
  EXPECT_EQ(clip_pretokenize("\xf0\x9f\xa4\x96\xf0\x9f\xa6\xbe arm"), (V{"\xf0\x9f\xa4\x96\xf0\x9f\xa6\xbe", "arm"}));
}

}  // namespace
}  // namespace wma::models
