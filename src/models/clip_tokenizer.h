// OpenCLIP's BPE tokenizer (open_clip v2.22.0 `tokenizer.py`: SimpleTokenizer + tokenize()),
// as used by FrozenOpenCLIPEmbedder. Of ftfy.fix_text only uncurl_quotes is reproduced (see
// docs/tokenizer.md for the inputs where that differs); everything after it follows upstream.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"

namespace wma::models {

class ClipTokenizer {
 public:
  static constexpr int kStartOfText = 49406;
  static constexpr int kEndOfText = 49407;
  static constexpr int kContextLength = 77;

  // `bpe_path`: OpenCLIP's bpe_simple_vocab_16e6.txt.gz, or the same file already decompressed.
  static ClipTokenizer load(const std::string& bpe_path);
  // From the merges file's text (header line first, one "a b" merge per line).
  static ClipTokenizer from_merges_text(const std::string& text);

  // BPE ids of the cleaned text, without start/end tokens.
  std::vector<int> encode(const std::string& utf8) const;
  // [SOT] + encode + [EOT], zero-padded to `context_length`; longer sequences are cut and end in EOT.
  std::vector<std::int64_t> tokenize(const std::string& utf8, int context_length = kContextLength) const;
  // i64 [texts.size(), context_length] on the CPU.
  Tensor tokenize(const std::vector<std::string>& texts, int context_length = kContextLength) const;

  int vocab_size() const { return vocab_size_; }

 private:
  std::vector<std::string> bpe(const std::string& token) const;

  std::unordered_map<std::string, int> encoder_;
  std::unordered_map<std::string, int> merge_ranks_;  // key "first second"
  int vocab_size_ = 0;
};

// upstream's basic_clean (ftfy reduced to uncurl_quotes) + whitespace_clean + lower(): html.unescape twice,
// strip, collapse whitespace runs to one space, strip, Python str.lower(). UTF-8 in and out;
// invalid UTF-8 bytes become U+FFFD.
std::string clip_clean_text(const std::string& utf8);

// The pre-tokenising regex of SimpleTokenizer on already-cleaned text (UTF-8 pieces).
std::vector<std::string> clip_pretokenize(const std::string& cleaned_utf8);

}  // namespace wma::models
