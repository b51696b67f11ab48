// libFuzzer target: JSON as the engine reads it from untrusted places: whole documents (safetensors headers, the
// shape metadata), and `POST /predict_action` bodies read member by member with their number arrays. A document
// that parses and serialises must parse back to the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "app/serve/request.h"
#include "core/error.h"
#include "io/json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace wma;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const io::json::Value value = io::json::parse(text);
    try {
      const std::string once = io::json::dump(value);
      if (io::json::dump(io::json::parse(once)) != once) std::abort();
    } catch (const Error&) {  // dump refuses non-finite numbers, which 1e999 parses to
    }
  } catch (const Error&) {
  }
  try {
    // The key's length picks how its member is read, so that the fuzzer reaches both readers.
    io::json::read_object(text, [](const std::string& key, io::json::MemberReader& member) {
      if (key.size() % 2 == 0) {
        member.value();
      } else {
        member.numbers(1 + key.size() % 5);
      }
    });
  } catch (const Error&) {
  }
  try {
    const pipeline::DecisionShapes shapes{.observation_steps = 2, .state_dim = 3, .action_dim = 2, .action_rows = 4};
    app::serve::parse_predict_request(text, shapes);
  } catch (const app::serve::RequestError&) {
  } catch (const Error&) {
  }
  return 0;
}
