// `wma serve` (app/serve, pipeline/decision.h) over real HTTP on the tiny fixture model with deterministic
// weights: a unitree_deploy-shaped request gets 16 un-normalised actions of the robot's width; 1000 malformed
// requests get upstream's answers (422 for a body that is not a JSON object, 200 with result "error" naming the
// field for wrong contents, 413 over the limit) and the server stays healthy; 20 concurrent requests are all
// answered; a full queue answers 503; --savedir writes the imagined videos under dated names that never replace
// a file; the `wma serve` program starts, answers /health and stops on SIGTERM. Hostile clients (issue 20):
// 50 clients at 1 byte/s delay neither /health nor a valid request, --request_timeout cuts them with 408,
// a chunked body over the limit gets 413 in bounded memory, ambiguous framing (two Content-Lengths) is refused.
// Self-contained: the stats and a byte-level vocabulary are written to a temporary folder.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "app/serve/http_server.h"
#include "app/serve/job_queue.h"
#include "app/serve/request.h"
#include "app/serve/video_name.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "pipeline/decision.h"
#include "pipeline/demo.h"
#include "pipeline/world_model.h"

namespace wma::app::serve {
namespace {
namespace fs = std::filesystem;
namespace json = io::json;

constexpr int kStateDim = 7, kActionDim = 7, kSteps = 2;
constexpr int kDdimSteps = 1;

fs::path source_dir() {
  const char* dir = std::getenv("WMA_SOURCE_DIR");
  return dir ? dir : ".";
}

// Robot stats far from [-1, 1], so normalised and un-normalised actions cannot be confused.
float stat_min(int d) { return 10.0f + static_cast<float>(d); }
float stat_max(int d) { return 20.0f + 2.0f * static_cast<float>(d); }

// A data folder laid out like upstream's (transitions/<dataset>/meta_data/stats.safetensors) and the demo's
// byte-level vocabulary, in a temporary folder removed at the end.
struct Workspace {
  fs::path root = fs::temp_directory_path() / ("wma_serve_test_" + std::to_string(::getpid()));
  fs::path vocab = root / "vocab.txt";
  Workspace() {
    fs::remove_all(root);
    fs::create_directories(root / "transitions/test_robot/meta_data");
    std::ofstream(vocab) << pipeline::demo_merges_text();
    std::vector<float> amin, amax, smin, smax;
    for (int d = 0; d < kActionDim; ++d) amin.push_back(stat_min(d)), amax.push_back(stat_max(d));
    for (int d = 0; d < kStateDim; ++d) smin.push_back(-1.0f - d), smax.push_back(1.0f + d);
    io::SafetensorsWriter w((root / "transitions/test_robot/meta_data/stats.safetensors").string());
    w.add("action/min", Tensor::from_floats({kActionDim}, amin));
    w.add("action/max", Tensor::from_floats({kActionDim}, amax));
    w.add("observation.state/min", Tensor::from_floats({kStateDim}, smin));
    w.add("observation.state/max", Tensor::from_floats({kStateDim}, smax));
    w.finish();
  }
  ~Workspace() { fs::remove_all(root); }
};

// The model and the policy are built once; each test starts its own server in front of the policy (tests
// run one after another, so no two servers compute at the same time).
struct Shared {
  Workspace workspace;
  pipeline::WorldModelConfig config =
      pipeline::WorldModelConfig::load((source_dir() / "tests/fixtures/configs/tiny.yaml").string());
  io::WeightStore store = pipeline::deterministic_world_model_store(config);
  pipeline::WorldModel model{store, config};
  models::ClipTokenizer tokenizer = models::ClipTokenizer::load(workspace.vocab.string());
  pipeline::DecisionPolicy policy{model, tokenizer,
                                  io::NormalizationStats::read(
                                      (workspace.root / "transitions/test_robot/meta_data/stats.safetensors").string()),
                                  [] {
                                    pipeline::DecisionSettings s;
                                    s.pass.ddim_steps = kDdimSteps;
                                    return s;
                                  }(),
                                  std::make_unique<pipeline::TorchNoise>(123)};
};

Shared& shared() {
  static Shared s;
  return s;
}

struct Setup {
  std::size_t max_queue = 4;
  std::size_t max_body = 16u << 20;
  std::chrono::milliseconds request_timeout{30000};
  pipeline::DecisionPolicy* policy = nullptr;  // the shared one by default
};

class RunningServer {
 public:
  explicit RunningServer(const Setup& setup) {
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.max_queue = setup.max_queue;
    o.max_body_bytes = setup.max_body;
    o.request_timeout = setup.request_timeout;
    o.description = "tiny test model";
    o.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mutex_);
      log_.push_back(line);
    };
    server_ = std::make_unique<PolicyServer>(setup.policy ? *setup.policy : shared().policy, o);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->serve(); });
  }
  ~RunningServer() {
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(300, 0);
    c.set_write_timeout(60, 0);
    return c;
  }
  std::vector<std::string> log() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return log_;
  }
  json::Value health() const {
    auto res = client().Get("/health");
    EXPECT_TRUE(res) << "no answer from /health";
    if (!res) return json::Value();
    EXPECT_EQ(res->status, 200);
    return json::parse(res->body);
  }

 private:
  std::unique_ptr<PolicyServer> server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<std::string> log_;
};

// The JSON unitree_deploy's LongConnectionClient sends: [O][3][H][W] integer pixels, [O][D] states, the
// zero action chunk [16][D], and the instruction.
std::string request_body(int height, int width, const std::string& instruction = "pack the camera into the box") {
  std::string pixels = "[";
  for (int o = 0; o < kSteps; ++o) {
    pixels += o ? ",[" : "[";
    for (int c = 0; c < 3; ++c) {
      pixels += c ? ",[" : "[";
      for (int y = 0; y < height; ++y) {
        pixels += y ? ",[" : "[";
        for (int x = 0; x < width; ++x) {
          if (x) pixels += ',';
          pixels += std::to_string((x * 7 + y * 3 + c * 50 + o * 11) % 256);
        }
        pixels += ']';
      }
      pixels += ']';
    }
    pixels += ']';
  }
  pixels += ']';
  std::string state = "[";
  for (int o = 0; o < kSteps; ++o) {
    state += o ? ",[" : "[";
    for (int d = 0; d < kStateDim; ++d) state += (d ? "," : "") + std::to_string(0.1 * d - 0.2 * o);
    state += ']';
  }
  state += ']';
  std::string action = "[";
  for (int r = 0; r < 16; ++r) {
    action += r ? ",[" : "[";
    for (int d = 0; d < kActionDim; ++d) action += d ? ",0.0" : "0.0";
    action += ']';
  }
  action += ']';
  return "{\"language_instruction\":" + json::quote(instruction) + ",\"observation.state\":" + state +
         ",\"observation.images.top\":" + pixels + ",\"action\":" + action + "}";
}

// 16 rows of kActionDim numbers, each inside the robot's [min, max].
void expect_robot_actions(const std::string& body) {
  const json::Value v = json::parse(body);
  ASSERT_EQ(v.at("result").as_string(), "ok") << body.substr(0, 400);
  EXPECT_EQ(v.at("desc").as_string(), "success");
  const json::Array& rows = v.at("action").as_array();
  ASSERT_EQ(rows.size(), 16u);
  for (const json::Value& row : rows) {
    ASSERT_EQ(row.as_array().size(), static_cast<std::size_t>(kActionDim));
    for (int d = 0; d < kActionDim; ++d) {
      const double a = row.as_array()[d].as_number();
      EXPECT_GE(a, stat_min(d) - 1e-4) << "dim " << d;
      EXPECT_LE(a, stat_max(d) + 1e-4) << "dim " << d;
    }
  }
}

TEST(Server, HealthAndUnknownRoute) {
  RunningServer server({});
  const json::Value h = server.health();
  EXPECT_EQ(h.at("status").as_string(), "ok");
  EXPECT_EQ(h.at("max_queue").as_int(), 4);
  auto res = server.client().Get("/predict_action");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(json::parse(res->body).at("result").as_string(), "error");
}

TEST(Server, UnitreeDeployShapedRequest) {
  RunningServer server({});
  const std::string body = request_body(480, 640);  // the robot's camera frames, as the client sends them
  auto res = server.client().Post("/predict_action", body, "application/json");
  ASSERT_TRUE(res) << "no answer";
  ASSERT_EQ(res->status, 200) << res->body;
  expect_robot_actions(res->body);
  // Per-request timing in the log.
  const std::vector<std::string> log = server.log();
  ASSERT_EQ(log.size(), 1u);
  for (const char* part : {"200", "actions 16x7", "sampling", "parse", "total"})
    EXPECT_NE(log[0].find(part), std::string::npos) << log[0];
}

struct Malformed {
  std::string body;
  std::string field;  // the field the answer must name ("" for the body as a whole)
};

// Replaces the value of `key` in a valid request (whose values are arrays or a string).
std::string with_member(const std::string& key, const std::string& value) {
  json::Value v = json::parse(request_body(8, 8));
  if (value.empty()) {
    json::Object kept;
    for (auto& [k, x] : v.as_object())
      if (k != key) kept.emplace_back(k, std::move(x));
    return json::dump(json::Value(std::move(kept)));
  }
  v.set(key, json::parse(value));
  return json::dump(v);
}

std::string nested(const std::vector<int>& shape, const std::string& leaf, std::size_t depth = 0) {
  if (depth == shape.size()) return leaf;
  std::string s = "[";
  for (int i = 0; i < shape[depth]; ++i) s += (i ? "," : "") + nested(shape, leaf, depth + 1);
  return s + "]";
}

std::vector<Malformed> malformed_requests(std::size_t body_limit) {
  std::vector<Malformed> cases;
  const std::string valid = request_body(8, 8);
  // Not JSON, or not an object.
  for (const char* text : {"", " ", "{", "}", "[", "nul", "{\"a\":}", "{'a':1}", "\xff\xfe", "{\"a\":1,}", "[1,2]",
                           "42", "\"text\"", "null", "true", "{\"a\":1}{"})
    cases.push_back({text, ""});
  cases.push_back({std::string(100000, '[') + std::string(100000, ']'), ""});
  for (std::size_t cut = 1; cases.size() < 300; cut += 37) cases.push_back({valid.substr(0, cut % valid.size()), ""});
  // Missing fields.
  for (const char* key : {"language_instruction", "observation.state", "observation.images.top", "action"})
    cases.push_back({with_member(key, ""), key});
  // Wrong types and shapes, per field.
  const std::vector<std::string> wrong_state = {"1",
                                                "\"x\"",
                                                "{}",
                                                "null",
                                                "[]",
                                                nested({1, 7}, "0.5"),
                                                nested({3, 7}, "0.5"),
                                                nested({2, 6}, "0.5"),
                                                nested({2, 8}, "0.5"),
                                                nested({2, 7}, "\"0.5\""),
                                                nested({2, 7}, "null"),
                                                nested({2, 7}, "true"),
                                                nested({2, 7}, "1e39"),
                                                nested({2, 7, 1}, "0.5"),
                                                "[[0,0,0,0,0,0,0],[0,0,0,0,0,0]]",
                                                nested({2}, "0.5")};
  const std::vector<std::string> wrong_images = {"1",
                                                 "\"img\"",
                                                 "{}",
                                                 "[]",
                                                 nested({2, 3, 8}, "0"),
                                                 nested({1, 3, 8, 8}, "0"),
                                                 nested({3, 3, 8, 8}, "0"),
                                                 nested({2, 4, 8, 8}, "0"),
                                                 nested({2, 1, 8, 8}, "0"),
                                                 nested({2, 3, 8, 8}, "256"),
                                                 nested({2, 3, 8, 8}, "-1"),
                                                 nested({2, 3, 8, 8}, "1.5"),
                                                 nested({2, 3, 8, 8}, "\"7\""),
                                                 nested({2, 3, 8, 8}, "null"),
                                                 nested({2, 3, 8, 8, 1}, "0"),
                                                 nested({2, 3, 0, 8}, "0"),
                                                 nested({2, 3, 1, 100}, "0"),
                                                 "[" + nested({3, 8, 8}, "0") + "," + nested({3, 8, 9}, "0") + "]"};
  const std::vector<std::string> wrong_action = {"1",
                                                 "\"zeros\"",
                                                 "{}",
                                                 "[]",
                                                 nested({15, 7}, "0"),
                                                 nested({17, 7}, "0"),
                                                 nested({16, 6}, "0"),
                                                 nested({16, 16}, "0"),
                                                 nested({16, 7}, "\"0\""),
                                                 nested({16}, "0"),
                                                 nested({16, 7, 1}, "0")};
  const std::vector<std::string> wrong_text = {"1", "null", "[\"a\"]", "{}", "true"};
  while (cases.size() < 990) {
    for (const auto& v : wrong_state) cases.push_back({with_member("observation.state", v), "observation.state"});
    for (const auto& v : wrong_images)
      cases.push_back({with_member("observation.images.top", v), "observation.images.top"});
    for (const auto& v : wrong_action) cases.push_back({with_member("action", v), "action"});
    for (const auto& v : wrong_text) cases.push_back({with_member("language_instruction", v), "language_instruction"});
  }
  cases.resize(990);
  // Bodies over the limit (413), and a large well-formed object of unknown keys.
  for (int i = 0; i < 5; ++i) cases.push_back({std::string(body_limit + 1 + i * 1000, ' '), ""});
  for (int i = 0; i < 4; ++i) cases.push_back({"[" + std::string(body_limit / 2, '[') + "]", ""});
  std::string keys = "{";
  for (int i = 0; i < 100000; ++i) keys += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":0";
  cases.push_back({keys + "}", "language_instruction"});
  return cases;
}

TEST(Server, ThousandMalformedRequestsAreRefusedAndTheServerStaysUp) {
  constexpr std::size_t kLimit = 2u << 20;
  RunningServer server({.max_body = kLimit});
  const std::vector<Malformed> cases = malformed_requests(kLimit);
  ASSERT_EQ(cases.size(), 1000u);
  httplib::Client client = server.client();
  int over_limit = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Malformed& m = cases[i];
    auto res = client.Post("/predict_action", m.body, "application/json");
    ASSERT_TRUE(res) << "case " << i << ": no answer (" << httplib::to_string(res.error()) << ")";
    over_limit += res->status == 413;
    const json::Value answer = json::parse(res->body);
    EXPECT_EQ(answer.at("result").as_string(), "error") << "case " << i << ": " << m.body.substr(0, 200);
    EXPECT_FALSE(answer.at("desc").as_string().empty());
    if (m.field.empty()) {
      EXPECT_TRUE(res->status == 422 || res->status == 413) << "case " << i << ": " << res->status << " " << res->body;
    } else {
      EXPECT_EQ(res->status, 200) << "case " << i << ": " << res->body;
      ASSERT_NE(answer.find("field"), nullptr) << "case " << i << ": " << res->body;
      EXPECT_EQ(answer.at("field").as_string(), m.field) << "case " << i << ": " << res->body;
    }
  }
  EXPECT_EQ(over_limit, 5);
  const json::Value h = server.health();
  EXPECT_EQ(h.at("status").as_string(), "ok");
  EXPECT_EQ(h.at("served").as_int(), 0);
  // Still computes.
  auto res = client.Post("/predict_action", request_body(24, 32), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  expect_robot_actions(res->body);
}

// unitree_deploy's client logs `desc` only when the status is 200 (and retries silently otherwise), so wrong
// contents are answered as upstream answers them.
TEST(Server, WrongStateSizeGets200WithResultError) {
  RunningServer server({});
  auto res = server.client().Post("/predict_action", with_member("observation.state", nested({2, 6}, "0.5")),
                                  "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  const json::Value answer = json::parse(res->body);
  EXPECT_EQ(answer.at("result").as_string(), "error");
  EXPECT_EQ(answer.at("desc").as_string(), "observation.state is [2][6], expected [2][7] numbers");
  EXPECT_EQ(answer.at("field").as_string(), "observation.state");
  EXPECT_EQ(server.health().at("served").as_int(), 0);
  const std::vector<std::string> log = server.log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("200 error observation.state"), std::string::npos) << log[0];
}

// As FastAPI: a body that does not parse as a JSON object is refused with 422 before any field is judged,
// even when a field before the syntax error is wrong.
TEST(Server, BadJsonGets422) {
  RunningServer server({});
  for (const std::string body : {std::string("{\"observation.state\": [[1, 2]"), std::string("{'action': 1}"),
                                 std::string("[1, 2]"), std::string("{\"language_instruction\": 1, \"action\": }")}) {
    auto res = server.client().Post("/predict_action", body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 422) << body << ": " << res->body;
    const json::Value answer = json::parse(res->body);
    EXPECT_EQ(answer.at("result").as_string(), "error");
    EXPECT_NE(answer.at("desc").as_string().find("not a valid JSON object"), std::string::npos) << res->body;
  }
}

TEST(Server, TwentyConcurrentRequestsAreAllAnswered) {
  RunningServer server({.max_queue = 24});
  const std::string body = request_body(24, 32);
  std::vector<int> status(20, 0);
  std::vector<std::string> bodies(20);
  std::vector<std::thread> clients;
  for (int i = 0; i < 20; ++i)
    clients.emplace_back([&, i] {
      auto res = server.client().Post("/predict_action", body, "application/json");
      if (res) status[i] = res->status, bodies[i] = res->body;
      else bodies[i] = "no answer: " + httplib::to_string(res.error());
    });
  for (auto& t : clients) t.join();
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(status[i], 200) << "client " << i << ": " << bodies[i];
    expect_robot_actions(bodies[i]);
  }
  EXPECT_EQ(server.health().at("served").as_int(), 20);
  EXPECT_EQ(server.log().size(), 20u);
}

// Polls /health until `ready` holds (or fails after a minute).
void wait_for(const RunningServer& server, const std::function<bool(const json::Value&)>& ready) {
  for (int i = 0; i < 6000; ++i) {
    if (ready(server.health())) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << "the server never reached the expected state";
}

TEST(Server, FullQueueAnswers503) {
  RunningServer server({.max_queue = 1});
  const std::string body = request_body(24, 32);
  int first = 0, second = 0;
  std::thread a([&] {
    auto res = server.client().Post("/predict_action", body, "application/json");
    if (res) first = res->status;
  });
  wait_for(server, [](const json::Value& h) { return h.at("busy").as_bool(); });
  std::thread b([&] {
    auto res = server.client().Post("/predict_action", body, "application/json");
    if (res) second = res->status;
  });
  wait_for(server, [](const json::Value& h) { return h.at("waiting").as_int() == 1; });
  auto refused = server.client().Post("/predict_action", body, "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503) << refused->body;
  EXPECT_EQ(refused->get_header_value("Retry-After"), "1");
  EXPECT_NE(json::parse(refused->body).at("desc").as_string().find("--max_queue"), std::string::npos);
  a.join();
  b.join();
  EXPECT_EQ(first, 200);
  EXPECT_EQ(second, 200);
}

// Sanitizer and debug builds are several times slower: the time and memory bounds below scale there.
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
constexpr double kTimeScale = 5.0;
constexpr long kMemoryScale = 4;
#else
constexpr double kTimeScale = 1.0;
constexpr long kMemoryScale = 1;
#endif

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

long rss_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

// A socket of our own, where httplib's client cannot go: sending byte by byte, two Content-Lengths, a chunked
// body of our choosing, reading while still sending.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }
  RawConnection(RawConnection&& other) noexcept : fd_(std::exchange(other.fd_, -1)), connected_(other.connected_) {}
  RawConnection(const RawConnection&) = delete;
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }

  // False once the server has closed.
  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Appends what has arrived, without waiting; false at the end of the stream.
  bool read_available(std::string& into) {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) into.append(buf, static_cast<std::size_t>(n));
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return false;
      if (n < 0 && errno != EINTR) return true;
    }
  }
  // Everything until the server closes (or `timeout` passes).
  std::string read_until_closed(std::chrono::milliseconds timeout = std::chrono::milliseconds(60000)) {
    std::string text;
    const Clock::time_point end = Clock::now() + timeout;
    while (read_available(text) && Clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, 50);
    }
    return text;
  }

 private:
  int fd_;
  bool connected_ = false;
};

struct RawAnswer {
  int status = 0;
  std::string head, body;
};

// The answers in `text`, one after another (each framed by its Content-Length).
std::vector<RawAnswer> raw_answers(const std::string& text) {
  std::vector<RawAnswer> out;
  for (std::size_t at = 0;;) {
    const std::size_t end = text.find("\r\n\r\n", at);
    if (end == std::string::npos || text.compare(at, 9, "HTTP/1.1 ") != 0) return out;
    RawAnswer a;
    a.status = std::atoi(text.c_str() + at + 9);
    a.head = text.substr(at, end - at);
    const std::size_t length_at = a.head.find("Content-Length: ");
    const std::size_t length = length_at == std::string::npos ? 0 : std::stoul(a.head.substr(length_at + 16));
    a.body = text.substr(end + 4, length);
    at = end + 4 + length;
    out.push_back(std::move(a));
  }
}

std::string hex(std::size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

const std::string kPostHead = "POST /predict_action HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";

// Issue 20: slow clients hold no thread, so /health (answered by the connection thread itself) and a valid
// request are not delayed by them. The tiny model takes 1-3 s to compute on a loaded 2-core machine, which the
// slow clients cannot change; what they could delay is the rest of the request's time, bounded here.
TEST(Server, FiftySlowClientsDelayNeitherHealthNorARequest) {
  RunningServer server({});
  const std::string body = request_body(24, 32);
  // Three kinds, one byte a second each: the head, a body by Content-Length, a chunked body.
  std::vector<RawConnection> slow;
  std::vector<std::string> text;
  std::vector<std::size_t> sent;
  for (int i = 0; i < 50; ++i) {
    slow.emplace_back(server.port());
    ASSERT_TRUE(slow.back().connected()) << "client " << i;
    const std::string length_head = kPostHead + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    const std::string chunked_head = kPostHead + "Transfer-Encoding: chunked\r\n\r\n" + hex(body.size()) + "\r\n";
    text.push_back(i % 3 == 2 ? chunked_head + body + "\r\n0\r\n\r\n" : length_head + body);
    sent.push_back(i % 3 == 0 ? 0 : i % 3 == 1 ? length_head.size() : chunked_head.size());
    ASSERT_TRUE(slow.back().send(std::string_view(text.back()).substr(0, sent.back())));
  }
  std::atomic<bool> done{false};
  std::thread dribbler([&] {
    while (!done) {
      for (std::size_t i = 0; i < slow.size(); ++i)
        if (sent[i] < text[i].size() && slow[i].send(std::string_view(text[i]).substr(sent[i], 1))) ++sent[i];
      for (int k = 0; k < 100 && !done; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  wait_for(server, [](const json::Value& h) { return h.at("connections").as_int() >= 51; });

  // A valid request computes while /health is asked again and again.
  const Clock::time_point t0 = Clock::now();
  std::atomic<bool> answered{false};
  int status = 0;
  std::string answer;
  double request_s = 0;
  std::thread request([&] {
    auto res = server.client().Post("/predict_action", body, "application/json");
    request_s = seconds_since(t0);
    if (res) status = res->status, answer = res->body;
    answered = true;
  });
  double worst_health_s = 0;
  int probes = 0;
  while (probes < 5 || !answered || seconds_since(t0) < 2.0) {
    const Clock::time_point asked = Clock::now();
    auto res = server.client().Get("/health");
    worst_health_s = std::max(worst_health_s, seconds_since(asked));
    ++probes;
    EXPECT_TRUE(res && res->status == 200) << "/health: " << (res ? res->body : httplib::to_string(res.error()));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  request.join();
  const std::int64_t connections = server.health().at("connections").as_int();
  done = true;
  dribbler.join();
  ASSERT_EQ(status, 200) << answer;
  expect_robot_actions(answer);

  // The server's own time for the request, from its arrival to its answer.
  double handled_s = -1;
  const std::regex total(R"(predict_action 200 .* total ([0-9.]+) ms)");
  for (const std::string& line : server.log()) {
    std::smatch m;
    if (std::regex_search(line, m, total)) handled_s = std::stod(m[1]) / 1000.0;
  }
  ASSERT_GE(handled_s, 0) << "no log line for the request";
  std::printf("[timing] 50 slow clients: /health worst %.3f s over %d probes; the request %.3f s, %.3f s of it "
              "from its arrival to its answer\n",
              worst_health_s, probes, request_s, handled_s);
  EXPECT_LE(worst_health_s, 1.0 * kTimeScale);
  EXPECT_LE(request_s - handled_s, 1.0 * kTimeScale);

  // The slow clients were still being read meanwhile, none answered.
  EXPECT_GE(connections, 51);
  for (std::size_t i = 0; i < slow.size(); ++i) {
    EXPECT_LT(sent[i], text[i].size()) << "client " << i << " sent its whole request";
    std::string early;
    EXPECT_TRUE(slow[i].read_available(early)) << "client " << i << " was closed";
    EXPECT_TRUE(early.empty()) << "client " << i << ": " << early;
  }
}

// The deadline of --request_timeout: a request still arriving gets 408, an idle connection and a kept-alive
// one with no second request are closed without an answer; each at the deadline, counted from the accept or
// from the previous answer.
TEST(Server, RequestsThatDoNotArriveInTimeGet408) {
  const std::chrono::milliseconds timeout(1000);
  RunningServer server({.request_timeout = timeout});
  const Clock::time_point t0 = Clock::now();
  RawConnection slow(server.port()), idle(server.port()), kept(server.port());
  ASSERT_TRUE(slow.connected() && idle.connected() && kept.connected());
  const std::string health = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_TRUE(kept.send(health));
  RawConnection* connections[] = {&slow, &idle, &kept};
  std::string received[3];
  double closed_s[3] = {-1, -1, -1};
  std::size_t sent = 0;
  // One byte every 100 ms: the request would need 4 s.
  while ((closed_s[0] < 0 || closed_s[1] < 0 || closed_s[2] < 0) && seconds_since(t0) < 10 * kTimeScale) {
    if (closed_s[0] < 0 && sent < health.size() && seconds_since(t0) >= 0.1 * static_cast<double>(sent))
      if (slow.send(health.substr(sent, 1))) ++sent;
    for (int k = 0; k < 3; ++k)
      if (closed_s[k] < 0 && !connections[k]->read_available(received[k])) closed_s[k] = seconds_since(t0);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double limit_s = 1.0 + 2.0 * kTimeScale;
  std::printf("[timing] --request_timeout 1 s: slow client answered 408 and closed after %.3f s, idle one closed "
              "after %.3f s, kept-alive one after %.3f s\n",
              closed_s[0], closed_s[1], closed_s[2]);
  EXPECT_LT(sent, health.size());
  const std::vector<RawAnswer> slow_answers = raw_answers(received[0]);
  ASSERT_EQ(slow_answers.size(), 1u) << received[0];
  EXPECT_EQ(slow_answers[0].status, 408);
  EXPECT_NE(json::parse(slow_answers[0].body).at("desc").as_string().find("--request_timeout"), std::string::npos);
  EXPECT_TRUE(received[1].empty()) << received[1];
  const std::vector<RawAnswer> kept_answers = raw_answers(received[2]);
  ASSERT_EQ(kept_answers.size(), 1u) << received[2];
  EXPECT_EQ(kept_answers[0].status, 200);
  for (int k = 0; k < 3; ++k) {
    EXPECT_GE(closed_s[k], 0.99) << "connection " << k;
    EXPECT_LE(closed_s[k], limit_s) << "connection " << k;
  }
  const std::vector<std::string> log = server.log();
  EXPECT_TRUE(
      std::any_of(log.begin(), log.end(), [](const std::string& l) { return l.find(" 408 ") != std::string::npos; }));
}

// Issue 20: a chunked body is counted against --max_body_bytes as it is decoded; refused with 413 once over,
// and the rest is drained, not kept, while the client goes on sending.
TEST(Server, ChunkedBodyOverTheLimitGets413InBoundedMemory) {
  constexpr std::size_t kLimit = 1u << 20, kChunk = 1u << 16, kTotal = 64u << 20;
  RunningServer server({.max_body = kLimit});
  RawConnection c(server.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(kPostHead + "Transfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = hex(kChunk) + "\r\n" + std::string(kChunk, ' ') + "\r\n";
  const long rss_before = rss_kib();
  std::atomic<bool> sending{true};
  std::atomic<long> rss_peak{rss_before};
  std::thread sampler([&] {
    while (sending) {
      rss_peak = std::max(rss_peak.load(), rss_kib());
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::string received;
  std::size_t sent = 0, sent_when_answered = 0;
  const Clock::time_point t0 = Clock::now();
  // The end of the server's stream after its answer is a half-close: the client may go on sending.
  while (sent < kTotal && c.send(chunk)) {
    sent += kChunk;
    c.read_available(received);
    if (sent_when_answered == 0 && !received.empty()) sent_when_answered = sent;
  }
  const double send_s = seconds_since(t0);
  sending = false;
  sampler.join();
  received += c.read_until_closed();
  std::printf("[timing] chunked body: %zu MiB sent in %.2f s, answered after %zu KiB, peak RSS +%ld KiB\n", sent >> 20,
              send_s, sent_when_answered >> 10, rss_peak.load() - rss_before);
  const std::vector<RawAnswer> answers = raw_answers(received);
  ASSERT_EQ(answers.size(), 1u) << received.substr(0, 400);
  EXPECT_EQ(answers[0].status, 413);
  EXPECT_NE(json::parse(answers[0].body).at("desc").as_string().find("--max_body_bytes"), std::string::npos);
  EXPECT_GT(sent_when_answered, 0u);
  EXPECT_LT(sent_when_answered, kTotal / 2) << "the 413 came only once the body had been read";
  EXPECT_GE(sent, 16 * kLimit) << "the connection was cut before the client could send on";
  EXPECT_LT(rss_peak.load() - rss_before, 16 * 1024 * kMemoryScale);
  EXPECT_EQ(server.health().at("status").as_string(), "ok");
}

// Issue 20: two Content-Lengths, or a Content-Length and a Transfer-Encoding, would let two parties frame the
// body differently (request smuggling); such requests are refused and their connection closed.
TEST(Server, AmbiguousFramingIsRefused) {
  RunningServer server({});
  struct Case {
    std::string text;
    int status;
    std::string desc;
  };
  const std::vector<Case> cases = {
      {kPostHead + "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 400, "duplicate Content-Length"},
      {kPostHead + "Content-Length: 2\r\nContent-Length: 9\r\n\r\n{}", 400, "duplicate Content-Length"},
      {kPostHead + "Content-Length: 2, 2\r\n\r\n{}", 400, "malformed Content-Length"},
      {kPostHead + "Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400, "ambiguous"},
      {kPostHead + "Transfer-Encoding: gzip\r\n\r\n", 501, "not supported"},
      {"GET /health HTTP/1.1\r\nX-Pad: " + std::string(20000, 'a') + "\r\n\r\n", 431, "exceed"},
  };
  for (const Case& k : cases) {
    RawConnection c(server.port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send(k.text));
    const std::string text = c.read_until_closed();
    const std::vector<RawAnswer> answers = raw_answers(text);
    ASSERT_EQ(answers.size(), 1u) << k.desc << ": " << text;
    EXPECT_EQ(answers[0].status, k.status) << text;
    EXPECT_NE(answers[0].head.find("Connection: close"), std::string::npos) << text;
    const json::Value v = json::parse(answers[0].body);
    EXPECT_EQ(v.at("result").as_string(), "error");
    EXPECT_NE(v.at("desc").as_string().find(k.desc), std::string::npos) << answers[0].body;
  }
  EXPECT_EQ(server.health().at("served").as_int(), 0);
}

// What clients other than httplib's send: a chunked body, Expect: 100-continue (curl, for large bodies), and
// pipelined requests on one kept-alive connection.
TEST(Server, ChunkedContinueAndPipelinedRequestsAreServed) {
  RunningServer server({});
  const std::string body = request_body(24, 32);
  {
    RawConnection c(server.port());
    ASSERT_TRUE(c.connected());
    std::string text = kPostHead + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    for (std::size_t at = 0, size = 1; at < body.size(); at += size, size = size * 7 + 3) {
      const std::string piece = body.substr(at, size);
      text += hex(piece.size()) + ";x=y\r\n" + piece + "\r\n";
    }
    ASSERT_TRUE(c.send(text + "0\r\n\r\n"));
    const std::vector<RawAnswer> answers = raw_answers(c.read_until_closed());
    ASSERT_EQ(answers.size(), 1u);
    ASSERT_EQ(answers[0].status, 200) << answers[0].body;
    expect_robot_actions(answers[0].body);
  }
  {
    RawConnection c(server.port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send(kPostHead + "Expect: 100-continue\r\nConnection: close\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n"));
    std::string text;
    for (int i = 0; i < 1000 && text.find("\r\n\r\n") == std::string::npos; ++i) {
      ASSERT_TRUE(c.read_available(text));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(text, "HTTP/1.1 100 Continue\r\n\r\n");
    ASSERT_TRUE(c.send(body));
    const std::vector<RawAnswer> answers = raw_answers(text + c.read_until_closed());
    ASSERT_EQ(answers.size(), 2u);
    ASSERT_EQ(answers[1].status, 200) << answers[1].body;
    expect_robot_actions(answers[1].body);
  }
  {
    RawConnection c(server.port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                       "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
    const std::vector<RawAnswer> answers = raw_answers(c.read_until_closed());
    ASSERT_EQ(answers.size(), 3u);
    EXPECT_EQ(answers[0].status, 200);
    EXPECT_EQ(answers[1].status, 404);
    EXPECT_EQ(answers[2].status, 200);
    EXPECT_EQ(answers[0].head.find("Connection: close"), std::string::npos);
    EXPECT_NE(answers[2].head.find("Connection: close"), std::string::npos);
    EXPECT_EQ(json::parse(answers[2].body).at("served").as_int(), 2);
  }
}

// Every entry of `dir` but the ones in `before`.
std::vector<std::string> new_entries(const fs::path& dir, const std::vector<std::string>& before) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (std::find(before.begin(), before.end(), name) == before.end()) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string file_text(const fs::path& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

TEST(VideoName, DateTimeAndRequestNumberInLocalTime) {
  std::tm t{};
  t.tm_year = 2025 - 1900;
  t.tm_mon = 5;
  t.tm_mday = 1;
  t.tm_hour = 14;
  t.tm_min = 3;
  t.tm_sec = 9;
  t.tm_isdst = -1;
  EXPECT_EQ(video_stem(std::mktime(&t), 7), "2025-06-01_14-03-09_7");
}

TEST(VideoName, MovesToAFreeNameAndNeverReplacesAFile) {
  const fs::path dir = fs::temp_directory_path() / ("wma_video_name_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "2025-06-01_14-03-09_1.mp4") << "older";
  std::ofstream(dir / "2025-06-01_14-03-09_1-2.mp4") << "older too";
  std::ofstream(dir / ".partial_1.mp4") << "new";
  EXPECT_EQ(move_to_free_name((dir / ".partial_1.mp4").string(), ".partial_1", "2025-06-01_14-03-09_1"),
            (dir / "2025-06-01_14-03-09_1-3.mp4").string());
  EXPECT_EQ(file_text(dir / "2025-06-01_14-03-09_1.mp4"), "older");
  EXPECT_EQ(file_text(dir / "2025-06-01_14-03-09_1-2.mp4"), "older too");
  EXPECT_EQ(file_text(dir / "2025-06-01_14-03-09_1-3.mp4"), "new");
  EXPECT_FALSE(fs::exists(dir / ".partial_1.mp4"));
  // Without libav the video is a folder of PNG frames; the rest of its name is kept.
  fs::create_directories(dir / ".partial_2_frames");
  EXPECT_EQ(move_to_free_name((dir / ".partial_2_frames").string(), ".partial_2", "2025-06-01_14-03-09_2"),
            (dir / "2025-06-01_14-03-09_2_frames").string());
  EXPECT_TRUE(fs::is_directory(dir / "2025-06-01_14-03-09_2_frames"));
  EXPECT_THROW(move_to_free_name((dir / "other.mp4").string(), ".partial_3", "x"), Error);
  fs::remove_all(dir);
}

// With --savedir each request decodes and writes upstream's imagined video (an mp4, or PNG frames when the
// build has no libav) as <date>_<time>_<request>; a server restarted within the second numbers its requests
// from 1 again and must not replace the earlier videos.
TEST(Server, SavesImaginedVideosUnderNewNames) {
  Shared& s = shared();
  const fs::path dir = s.workspace.root / "videos";
  fs::create_directories(dir);
  // Request 1's names for the next two minutes, as an earlier server run would have left them.
  std::vector<std::string> earlier;
  const std::time_t now = std::time(nullptr);
  for (int dt = 0; dt <= 120; ++dt)
    for (const char* rest : {".mp4", "_frames"}) {
      earlier.push_back(video_stem(now + dt, 1) + rest);
      std::ofstream(dir / earlier.back()) << "earlier";
    }
  pipeline::DecisionSettings settings;
  settings.pass.ddim_steps = kDdimSteps;
  settings.savedir = dir.string();
  pipeline::DecisionPolicy policy(s.model, s.tokenizer,
                                  io::NormalizationStats::read(
                                      (s.workspace.root / "transitions/test_robot/meta_data/stats.safetensors")
                                          .string()),
                                  settings, std::make_unique<pipeline::TorchNoise>(123));
  RunningServer server({.policy = &policy});
  for (int i = 0; i < 2; ++i) {
    auto res = server.client().Post("/predict_action", request_body(24, 32), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    expect_robot_actions(res->body);
  }
  const std::vector<std::string> written = new_entries(dir, earlier);
  ASSERT_EQ(written.size(), 2u);  // and no temporaries left
  const std::regex first(R"(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_1-2(\.mp4|_frames))");
  const std::regex second(R"(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_2(\.mp4|_frames))");
  EXPECT_TRUE(std::regex_match(written[0], first)) << written[0];
  EXPECT_TRUE(std::regex_match(written[1], second)) << written[1];
  for (const std::string& name : written)
    EXPECT_GT(fs::file_size(fs::is_directory(dir / name) ? dir / name / "0000.png" : dir / name), 0u) << name;
  for (const std::string& name : earlier) EXPECT_EQ(file_text(dir / name), "earlier") << name;
  const std::vector<std::string> log = server.log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[1].find(", video " + (dir / written[1]).string()), std::string::npos) << log[1];
}

// The queue alone: one job runs, max_waiting wait, the rest are refused; closing tells the waiting ones.
TEST(JobQueue, BoundsWaitingJobsAndTellsThemOnClose) {
  for (const std::size_t max_waiting : {0u, 2u}) {
    JobQueue queue(max_waiting);
    std::mutex gate;
    gate.lock();  // holds the first job while the others are submitted
    std::atomic<int> ran{0}, told{0};
    std::thread worker([&] { queue.run(); });
    ASSERT_EQ(queue.submit([&](bool run) {
      if (run) {
        std::lock_guard<std::mutex> hold(gate);
        ++ran;
      } else {
        ++told;
      }
    }),
              JobQueue::Admission::Accepted);
    while (!queue.busy()) std::this_thread::yield();
    for (std::size_t i = 0; i < max_waiting; ++i)
      EXPECT_EQ(queue.submit([&](bool run) { run ? ++ran : ++told; }), JobQueue::Admission::Accepted);
    EXPECT_TRUE(queue.full());
    EXPECT_EQ(queue.submit([](bool) {}), JobQueue::Admission::Full);
    EXPECT_EQ(queue.waiting(), max_waiting);
    queue.close();
    gate.unlock();
    worker.join();
    EXPECT_EQ(ran, 1);
    EXPECT_EQ(told, static_cast<int>(max_waiting));
    EXPECT_EQ(queue.submit([](bool) {}), JobQueue::Admission::Closed);
  }
}

// The program: flags (`sampling`: the sampler's, which the start-up line names as `announced`), start-up,
// /health, a request, and a clean stop on SIGTERM.
void serve_one_request(const std::vector<std::string>& sampling, const std::string& announced) {
  const Workspace& ws = shared().workspace;
  const fs::path log = ws.root / "serve.log";
  const char* bin = std::getenv("WMA_BINARY");
  const std::string config = (source_dir() / "tests/fixtures/configs/tiny.yaml").string();
  const std::string data_dir = ws.root.string(), vocab = ws.vocab.string(), binary = bin ? bin : "wma";
  std::vector<std::string> args = {"wma",        "serve",    "--config",  config,       "--demo_weights",
                                   "--data_dir", data_dir,   "--dataset", "test_robot", "--clip-vocab",
                                   vocab,        "--height", "64",        "--width",    "64",
                                   "--port",     "0"};
  args.insert(args.end(), sampling.begin(), sampling.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ASSERT_EQ(spawned, 0) << "cannot start " << binary;
  int port = 0;
  for (int i = 0; i < 1200 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream f(log);
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto at = text.find("listening on http://127.0.0.1:");
    if (at != std::string::npos)
      port = std::atoi(text.c_str() + at + std::string("listening on http://127.0.0.1:").size());
    if (waitpid(pid, nullptr, WNOHANG) == pid) FAIL() << "wma serve exited:\n" << text;
  }
  ASSERT_GT(port, 0) << "wma serve did not report its port";
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(120, 0);
  auto health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_NE(health->body.find("test_robot"), std::string::npos) << health->body;
  auto res = client.Post("/predict_action", request_body(24, 32), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  expect_robot_actions(res->body);
  kill(pid, SIGTERM);
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << "exit status " << wstatus;
  std::ifstream f(log);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(announced), std::string::npos) << text;
}

TEST(ServeCli, StartsAnswersAndStopsOnSigterm) { serve_one_request({"--ddim_steps", "1"}, ", 1 ddim steps"); }

// The issue's acceptance run at tiny size: a multistep solver end to end through the server.
TEST(ServeCli, AnswersWithDpmSolverAtEightSteps) {
  serve_one_request({"--sampler", "dpmpp_2m", "--ddim_steps", "8"}, ", 8 dpmpp_2m steps");
}

TEST(ServeCli, RefusesBadFlagsBeforeLoading) {
  const char* bin = std::getenv("WMA_BINARY");
  const std::string cmd = std::string(bin ? bin : "wma") + " serve --config " +
                          (source_dir() / "tests/fixtures/configs/tiny.yaml").string() +
                          " --demo_weights --height 64 --width 64 --max_queue -1 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  EXPECT_NE(pclose(p), 0);
  EXPECT_NE(out.find("--max_queue"), std::string::npos) << out;
}

}  // namespace
}  // namespace wma::app::serve
