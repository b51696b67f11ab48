// OpenCLIP SimpleTokenizer (open_clip v2.22.0 src/open_clip/tokenizer.py L60-188). Python str
// semantics (html.unescape, str.strip/lower, the `regex` module's \s, \p{L}, \p{N}) come from
// tables generated out of Python itself (tools/codegen/gen_unicode_tables.py).
#include "models/clip_tokenizer.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "io/gzip.h"
#include "io/utf8.h"

namespace wma::models {
namespace {

struct CodeRange {
  char32_t lo, hi;
};
struct LowerEntry {
  char32_t cp;
  char32_t lower[3];
};
struct HtmlEntity {
  const char* name;
  const char* value;
};
struct InvalidCharref {
  std::uint32_t num;
  char32_t cp;
};

#include "models/unicode_tables.inc"

template <std::size_t N>
bool in_ranges(const CodeRange (&table)[N], char32_t c) {
  const CodeRange* end = table + N;
  const CodeRange* it = std::upper_bound(table, end, c, [](char32_t v, const CodeRange& r) { return v < r.lo; });
  return it != table && c <= (it - 1)->hi;
}

bool is_letter(char32_t c) { return in_ranges(kLetterRanges, c); }
bool is_number(char32_t c) { return in_ranges(kNumberRanges, c); }
bool is_py_space(char32_t c) { return in_ranges(kPySpaceRanges, c); }
bool is_regex_space(char32_t c) { return in_ranges(kRegexSpaceRanges, c); }
bool is_other(char32_t c) {
  return !is_regex_space(c) && !is_letter(c) && !is_number(c) && !in_ranges(kPretokenizerDroppedRanges, c);
}

std::u32string decode_utf8(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char b = p[i];
    int len = 0;
    char32_t cp = 0, min = 0;
    if (b < 0x80) {
      len = 1, cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2, cp = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3, cp = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4, cp = b & 0x07, min = 0x10000;
    }
    bool ok = len > 0 && i + len <= n;
    for (int k = 1; ok && k < len; ++k) {
      ok = (p[i + k] & 0xC0) == 0x80;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (ok) {
      out.push_back(cp);
      i += len;
    } else {
      out.push_back(0xFFFD);
      ++i;
    }
  }
  return out;
}

std::string encode_utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) io::append_utf8(out, c);
  return out;
}

const char* find_entity(const std::u32string& name) {
  const std::string key = encode_utf8(name);
  const HtmlEntity* end = std::end(kHtmlEntities);
  const HtmlEntity* it =
      std::lower_bound(std::begin(kHtmlEntities), end, key,
                       [](const HtmlEntity& e, const std::string& k) { return std::strcmp(e.name, k.c_str()) < 0; });
  return it != end && key == it->name ? it->value : nullptr;
}

// html._replace_charref for a numeric reference.
std::u32string numeric_charref(std::uint32_t num) {
  for (const InvalidCharref& r : kHtmlInvalidCharrefs)
    if (r.num == num) return std::u32string(1, r.cp);
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return U"\uFFFD";
  if (in_ranges(kHtmlInvalidCodepoints, num)) return U"";
  return std::u32string(1, static_cast<char32_t>(num));
}

bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_ascii_hex(char32_t c) { return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Python's html.unescape: the regex &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
// scanned left to right, each match replaced by _replace_charref.
std::u32string html_unescape(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    if (s[i] != '&' || i + 1 >= n) {
      out.push_back(s[i++]);
      continue;
    }
    std::size_t j = i + 1;
    if (s[j] == '#') {
      const bool hex = j + 2 < n && (s[j + 1] == 'x' || s[j + 1] == 'X') && is_ascii_hex(s[j + 2]);
      const bool dec = j + 1 < n && is_ascii_digit(s[j + 1]);
      if (!hex && !dec) {
        out.push_back(s[i++]);
        continue;
      }
      std::size_t k = dec ? j + 1 : j + 2;
      std::uint64_t num = 0;
      const std::uint64_t cap = 0x110000;  // anything above is replaced the same way
      for (; k < n && (dec ? is_ascii_digit(s[k]) : is_ascii_hex(s[k])); ++k) {
        const char32_t c = s[k];
        const std::uint64_t d = is_ascii_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
        num = std::min<std::uint64_t>(num * (dec ? 10 : 16) + d, cap);
      }
      if (k < n && s[k] == ';') ++k;
      out += numeric_charref(static_cast<std::uint32_t>(num));
      i = k;
      continue;
    }
    std::size_t k = j;
    auto name_char = [](char32_t c) {
      return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' && c != ';';
    };
    while (k < n && k - j < 32 && name_char(s[k])) ++k;
    if (k == j) {
      out.push_back(s[i++]);
      continue;
    }
    if (k < n && s[k] == ';') ++k;
    const std::u32string ref = s.substr(j, k - j);
    if (const char* v = find_entity(ref)) {
      out += decode_utf8(v);
    } else {
      bool found = false;
      // Longest known prefix of at least two characters, as html.unescape does.
      for (std::size_t x = ref.size() - 1; x > 1 && !found; --x) {
        if (const char* pv = find_entity(ref.substr(0, x))) {
          out += decode_utf8(pv);
          out += ref.substr(x);
          found = true;
        }
      }
      if (!found) {
        out.push_back('&');
        out += ref;
      }
    }
    i = k;
  }
  return out;
}

std::u32string py_strip(const std::u32string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && is_py_space(s[b])) ++b;
  while (e > b && is_py_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::u32string collapse_whitespace(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (is_regex_space(s[i])) {
      out.push_back(' ');
      while (i < s.size() && is_regex_space(s[i])) ++i;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// Python str.lower(): full lowercase mapping plus the Final_Sigma rule for U+03A3.
std::u32string py_lower(const std::u32string& s) {
  auto ignorable = [](char32_t c) { return in_ranges(kCaseIgnorableRanges, c); };
  auto cased = [](char32_t c) { return in_ranges(kCasedRanges, c); };
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char32_t c = s[i];
    if (c == 0x03A3) {
      std::size_t j = i;
      while (j > 0 && ignorable(s[j - 1])) --j;
      bool final_sigma = j > 0 && cased(s[j - 1]);
      if (final_sigma) {
        std::size_t k = i + 1;
        while (k < s.size() && ignorable(s[k])) ++k;
        final_sigma = k == s.size() || !cased(s[k]);
      }
      out.push_back(final_sigma ? 0x03C2 : 0x03C3);
      continue;
    }
    const LowerEntry* end = std::end(kLowerMap);
    const LowerEntry* it =
        std::lower_bound(std::begin(kLowerMap), end, c, [](const LowerEntry& e, char32_t v) { return e.cp < v; });
    if (it == end || it->cp != c) {
      out.push_back(c);
      continue;
    }
    for (char32_t l : it->lower)
      if (l != 0) out.push_back(l);
  }
  return out;
}

// The `regex` module with IGNORECASE uses simple case folding: the literal 's' of the
// contractions and special tokens also matches U+017F (long s), which lower() keeps.
bool ci_equal(char32_t text, char ascii_lower) {
  return text == static_cast<char32_t>(ascii_lower) || (ascii_lower == 's' && text == 0x017F);
}

std::size_t match_literal(const std::u32string& s, std::size_t i, const char* lit) {
  const std::size_t len = std::strlen(lit);
  if (i + len > s.size()) return 0;
  for (std::size_t k = 0; k < len; ++k)
    if (!ci_equal(s[i + k], lit[k])) return 0;
  return len;
}

void pretokenize(const std::u32string& s, std::vector<std::u32string>& pieces) {
  static constexpr const char* kLiterals[] =
      {"<start_of_text>", "<end_of_text>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t len = 0;
    for (const char* lit : kLiterals)
      if ((len = match_literal(s, i, lit)) != 0) break;
    if (len == 0 && is_letter(s[i])) {
      while (i + len < s.size() && is_letter(s[i + len])) ++len;
    } else if (len == 0 && is_number(s[i])) {
      len = 1;
    } else if (len == 0 && is_other(s[i])) {
      while (i + len < s.size() && is_other(s[i + len])) ++len;
    }
    if (len == 0) {
      ++i;  // whitespace (and U+0345, see the tables) matches nothing
      continue;
    }
    pieces.push_back(s.substr(i, len));
    i += len;
  }
}

// bytes_to_unicode(): printable Latin-1 bytes map to themselves, the others to U+0100 onwards.
const std::vector<std::string>& byte_symbols() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      io::append_utf8(t[b], printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++));
    }
    return t;
  }();
  return table;
}

// Vocabulary order of upstream: the byte symbols in bytes_to_unicode's dict order (printable
// bytes ascending, then the remapped ones).
std::vector<std::string> byte_symbols_in_vocab_order() {
  const auto& t = byte_symbols();
  std::vector<std::string> printable, other;
  for (int b = 0; b < 256; ++b) {
    const bool p = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    (p ? printable : other).push_back(t[b]);
  }
  printable.insert(printable.end(), other.begin(), other.end());
  return printable;
}

}  // namespace

std::string clip_clean_text(const std::string& utf8) {
  std::u32string s = decode_utf8(utf8);
  // The one ftfy.fix_text step applied here: uncurl_quotes (docs/tokenizer.md), because curly
  // apostrophes are common in typed prompts and change the tokens ("'s" is a token of its own).
  for (char32_t& c : s) {
    if (c >= 0x2018 && c <= 0x201B) c = '\'';
    else if (c >= 0x201C && c <= 0x201F) c = '"';
  }
  s = py_strip(html_unescape(html_unescape(s)));
  s = py_strip(collapse_whitespace(s));
  return encode_utf8(py_lower(s));
}

std::vector<std::string> clip_pretokenize(const std::string& cleaned_utf8) {
  std::vector<std::u32string> pieces;
  pretokenize(decode_utf8(cleaned_utf8), pieces);
  std::vector<std::string> out;
  out.reserve(pieces.size());
  for (const auto& p : pieces) out.push_back(encode_utf8(p));
  return out;
}

ClipTokenizer ClipTokenizer::load(const std::string& bpe_path) {
  try {
    return from_merges_text(io::read_file_maybe_gzip(bpe_path));
  } catch (const Error& e) {
    fail("[tokenizer] ", bpe_path, ": ", e.what());
  }
}

ClipTokenizer ClipTokenizer::from_merges_text(const std::string& text) {
  // upstream: lines[1 : 49152 - 256 - 2 + 1], i.e. at most 48894 merges after the header.
  constexpr std::size_t kMaxMerges = 49152 - 256 - 2;
  std::vector<std::pair<std::string, std::string>> merges;
  std::size_t pos = text.find('\n');
  WMA_CHECK(pos != std::string::npos, "[tokenizer] merges file has no header line");
  ++pos;
  while (merges.size() < kMaxMerges && pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() && end == text.size()) break;  // final newline
    const std::size_t a0 = line.find_first_not_of(' ');
    const std::size_t a1 = line.find(' ', a0);
    const std::size_t b0 = line.find_first_not_of(' ', a1);
    const std::size_t b1 = b0 == std::string::npos ? b0 : line.find(' ', b0);
    WMA_CHECK(a0 != std::string::npos && b0 != std::string::npos &&
                  (b1 == std::string::npos || line.find_first_not_of(' ', b1) == std::string::npos),
              "[tokenizer] merge line ", merges.size() + 2, " is not two symbols: '", line, "'");
    merges.emplace_back(line.substr(a0, a1 - a0), line.substr(b0, b1 == std::string::npos ? b1 : b1 - b0));
    if (end == text.size()) break;
  }

  ClipTokenizer tok;
  std::vector<std::string> vocab = byte_symbols_in_vocab_order();
  for (std::size_t i = 0; i < 256; ++i) vocab.push_back(vocab[i] + "</w>");
  for (const auto& [a, b] : merges) vocab.push_back(a + b);
  vocab.emplace_back("<start_of_text>");
  vocab.emplace_back("<end_of_text>");
  // dict(zip(...)) semantics: a repeated entry keeps its last index.
  for (std::size_t i = 0; i < vocab.size(); ++i) tok.encoder_[vocab[i]] = static_cast<int>(i);
  for (std::size_t i = 0; i < merges.size(); ++i)
    tok.merge_ranks_[merges[i].first + ' ' + merges[i].second] = static_cast<int>(i);
  tok.vocab_size_ = static_cast<int>(vocab.size());
  WMA_CHECK(tok.encoder_.at("<start_of_text>") == kStartOfText && tok.encoder_.at("<end_of_text>") == kEndOfText,
            "[tokenizer] merges file gives ", vocab.size(), " entries, not OpenCLIP's 49408");
  return tok;
}

std::vector<std::string> ClipTokenizer::bpe(const std::string& token) const {
  if (token == "<start_of_text>" || token == "<end_of_text>") return {token};
  // Split into byte-level symbols (each one code point of the byte map) and mark the word end.
  std::vector<std::string> word;
  for (std::size_t i = 0; i < token.size();) {
    std::size_t len = 1;
    while (i + len < token.size() && (static_cast<unsigned char>(token[i + len]) & 0xC0) == 0x80) ++len;
    word.push_back(token.substr(i, len));
    i += len;
  }
  word.back() += "</w>";
  while (word.size() > 1) {
    int best = std::numeric_limits<int>::max();
    std::size_t best_at = 0;
    for (std::size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = merge_ranks_.find(word[i] + ' ' + word[i + 1]);
      if (it != merge_ranks_.end() && it->second < best) best = it->second, best_at = i;
    }
    if (best == std::numeric_limits<int>::max()) break;
    const std::string first = word[best_at], second = word[best_at + 1];
    std::vector<std::string> merged;
    merged.reserve(word.size());
    for (std::size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word = std::move(merged);
  }
  return word;
}

std::vector<int> ClipTokenizer::encode(const std::string& utf8) const {
  const auto& bytes = byte_symbols();
  std::vector<int> ids;
  for (const std::string& piece : clip_pretokenize(clip_clean_text(utf8))) {
    std::string mapped;
    for (unsigned char b : piece) mapped += bytes[b];
    for (const std::string& sym : bpe(mapped)) {
      auto it = encoder_.find(sym);
      WMA_CHECK(it != encoder_.end(), "[tokenizer] BPE symbol '", sym, "' is not in the vocabulary");
      ids.push_back(it->second);
    }
  }
  return ids;
}

std::vector<std::int64_t> ClipTokenizer::tokenize(const std::string& utf8, int context_length) const {
  WMA_CHECK(context_length >= 2, "[tokenizer] context length ", context_length, " < 2");
  std::vector<std::int64_t> ids{kStartOfText};
  for (int id : encode(utf8)) ids.push_back(id);
  ids.push_back(kEndOfText);
  if (static_cast<int>(ids.size()) > context_length) {
    ids.resize(context_length);
    ids.back() = kEndOfText;
  }
  ids.resize(context_length, 0);
  return ids;
}

Tensor ClipTokenizer::tokenize(const std::vector<std::string>& texts, int context_length) const {
  std::vector<std::int64_t> all;
  all.reserve(texts.size() * context_length);
  for (const auto& t : texts) {
    const auto ids = tokenize(t, context_length);
    all.insert(all.end(), ids.begin(), ids.end());
  }
  return Tensor::from_ints({static_cast<std::int64_t>(texts.size()), context_length}, all, DType::I64);
}

}  // namespace wma::models
