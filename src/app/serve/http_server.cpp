// cpp-httplib glue of the policy server: routes, status codes, the bounded job queue, per-request timing.
#include "app/serve/http_server.h"

#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <future>
#include <mutex>
#include <thread>

#include "app/serve/job_queue.h"
#include "app/serve/request.h"
#include "app/serve/video_name.h"
#include "core/error.h"
#include "core/log.h"
#include "io/json.h"
#include "pipeline/session.h"

namespace wma::app::serve {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string ms(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", v);
  return buf;
}

constexpr const char* kJson = "application/json";

}  // namespace

struct PolicyServer::Impl {
  pipeline::DecisionPolicy& policy;
  ServerOptions options;
  httplib::Server http;
  JobQueue queue;
  std::atomic<std::uint64_t> next_id{0};
  std::atomic<std::uint64_t> served{0};
  std::mutex parse_mutex;  // one body at a time through the JSON tree (bounds its memory)
  std::thread listener;
  std::atomic<bool> listener_done{false};
  socket_t listen_socket = -1;
  bool bound = false;

  Impl(pipeline::DecisionPolicy& p, ServerOptions o) : policy(p), options(std::move(o)), queue(options.max_queue) {
    if (!options.log) options.log = [](const std::string& line) { log_info(line); };
  }

  // httplib's stop() does nothing before listen has started, so wait for it (or for its failure).
  void stop_listener() {
    if (!listener.joinable()) return;
    while (!http.is_running() && !listener_done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    http.stop();
    listener.join();
  }

  void reply(httplib::Response& res, int status, const std::string& body) {
    res.status = status;
    res.set_content(body, kJson);
  }

  void predict(const httplib::Request& req, httplib::Response& res) {
    const std::uint64_t id = ++next_id;
    const Clock::time_point start = Clock::now();
    auto refuse = [&](int status, const std::string& message, const std::string& field, const std::string& timing) {
      reply(res, status, error_response(message, field));
      if (status == 503) res.set_header("Retry-After", "1");
      options.log(str_cat("serve #", id, " predict_action ", status, status == 200 ? " error " : " ",
                          field.empty() ? "" : field + ": ", message,
                          " (", timing, ")"));
    };
    auto full_message = [&] {
      return str_cat("busy: one request computes and ", queue.max_waiting(), " wait (--max_queue); retry later");
    };
    // A full queue is refused before the body is parsed.
    if (queue.full()) return refuse(503, full_message(), "", ms(ms_since(start)));

    pipeline::PassInput input;
    double parse_ms = 0, prepare_ms = 0;
    try {
      pipeline::DecisionRequest request;
      {
        std::lock_guard<std::mutex> lock(parse_mutex);
        request = parse_predict_request(req.body, policy.shapes());
      }
      parse_ms = ms_since(start);
      const Clock::time_point prep = Clock::now();
      input = policy.prepare(request);
      prepare_ms = ms_since(prep);
    } catch (const RequestError& e) {
      return refuse(e.status(), e.what(), e.field(), "parse " + ms(ms_since(start)));
    } catch (const std::exception& e) {
      return refuse(200, str_cat("internal error while preparing the request: ", e.what()), "", ms(ms_since(start)));
    }

    // Failures of the model are answered 200 with result "error" too, as upstream does, so that the robot
    // client logs them.
    struct Outcome {
      int status = 200;
      bool ok = false;
      std::string body, summary;
    };
    std::promise<Outcome> promise;
    std::future<Outcome> future = promise.get_future();
    const Clock::time_point submitted = Clock::now();
    const JobQueue::Admission admission = queue.submit([&, id](bool run) {
      Outcome o;
      if (!run) {
        o.status = 503;
        o.body = error_response("the server is shutting down");
        o.summary = "shut down before its turn";
        promise.set_value(std::move(o));
        return;
      }
      const double queued_ms = ms_since(submitted);
      const Device device = policy.device();
      pipeline::Profiler profiler([device] { pipeline::synchronize_device(device); });
      try {
        // The video is written under a name no other request or server uses, then moved to a free final name.
        const std::string temp_stem = str_cat(".partial_", ::getpid(), "_", id);
        pipeline::DecisionResult result = policy.run(input, temp_stem, &profiler);
        if (!result.video_path.empty())
          result.video_path = move_to_free_name(result.video_path, temp_stem, video_stem(std::time(nullptr), id));
        o.ok = true;
        o.body = ok_response(result);
        o.summary = str_cat("actions ", result.rows, "x", result.action_dim,
                            result.video_path.empty() ? "" : ", video " + result.video_path, " | queued ",
                            ms(queued_ms), ", conditioning ", ms(1e3 * profiler.total("synthesis/conditioning_prep")),
                            ", sampling ", ms(1e3 * profiler.total("synthesis/ddim_sampling")), ", decode ",
                            ms(1e3 * profiler.total("synthesis/decode_first_stage")), ", save ",
                            ms(1e3 * profiler.total("save_results")));
      } catch (const std::exception& e) {
        o.body = error_response(str_cat("internal error: ", e.what()));
        o.summary = str_cat("error ", e.what());
      }
      promise.set_value(std::move(o));
    });
    if (admission == JobQueue::Admission::Full) return refuse(503, full_message(), "", ms(ms_since(start)));
    if (admission == JobQueue::Admission::Closed)
      return refuse(503, "the server is shutting down", "", ms(ms_since(start)));

    const Outcome outcome = future.get();
    reply(res, outcome.status, outcome.body);
    if (outcome.ok) ++served;
    options.log(str_cat("serve #", id, " predict_action ", outcome.status, " ", outcome.summary, " | parse ",
                        ms(parse_ms), ", prepare ", ms(prepare_ms), ", total ", ms(ms_since(start))));
  }

  void health(httplib::Response& res) {
    const pipeline::DecisionShapes& shapes = policy.shapes();
    io::json::Object request{{"observation_steps", shapes.observation_steps},
                             {"state_dim", shapes.state_dim},
                             {"action_rows", shapes.action_rows},
                             {"action_dim", shapes.action_dim}};
    io::json::Object body{{"status", "ok"},
                          {"model", options.description},
                          {"request", std::move(request)},
                          {"busy", queue.busy()},
                          {"waiting", static_cast<std::int64_t>(queue.waiting())},
                          {"max_queue", static_cast<std::int64_t>(queue.max_waiting())},
                          {"served", static_cast<std::int64_t>(served.load())}};
    reply(res, 200, io::json::dump(io::json::Value(std::move(body))));
  }
};

PolicyServer::PolicyServer(pipeline::DecisionPolicy& policy, ServerOptions options)
    : impl_(std::make_unique<Impl>(policy, std::move(options))) {
  Impl& s = *impl_;
  // Every waiting request holds a connection thread; spare threads keep /health and refusals answered.
  const std::size_t threads = s.options.max_queue + 1 + 8;
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.http.set_payload_max_length(s.options.max_body_bytes);
  // Also how long a new connection may take to send its request: a client whose handshake waited in a full
  // backlog sends it late, and a connection closed before it arrives reads no answer.
  s.http.set_keep_alive_timeout(30);
  s.http.set_socket_options([&s](socket_t sock) {
    httplib::default_socket_options(sock);
    s.listen_socket = sock;
  });
  s.http.Post("/predict_action", [&s](const httplib::Request& req, httplib::Response& res) { s.predict(req, res); });
  s.http.Get("/health", [&s](const httplib::Request&, httplib::Response& res) { s.health(res); });
  // httplib's own refusals (404, 413, ...) get a JSON body like ours.
  s.http.set_error_handler([&s](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = str_cat("HTTP ", res.status, " for ", req.method, " ", req.path);
    if (res.status == 404) message = str_cat("no route ", req.method, " ", req.path, " (POST /predict_action, GET /health)");
    if (res.status == 413) {
      // httplib caps form-encoded bodies (curl -d without a Content-Type) at 8 KiB whatever the limit.
      message = req.get_header_value("Content-Type") == "application/x-www-form-urlencoded"
                    ? std::string("the body was sent as a form (application/x-www-form-urlencoded), which is limited to "
                                  "8192 bytes: send it with Content-Type: application/json")
                    : str_cat("the body exceeds ", s.options.max_body_bytes, " bytes (--max_body_bytes)");
    }
    res.set_content(error_response(message), kJson);
    s.options.log(str_cat("serve ", req.method, " ", req.path, " ", res.status, " ", message));
  });
}

PolicyServer::~PolicyServer() {
  stop();
  impl_->stop_listener();
}

int PolicyServer::bind() {
  Impl& s = *impl_;
  const int port = s.options.port == 0 ? s.http.bind_to_any_port(s.options.host)
                                       : (s.http.bind_to_port(s.options.host, s.options.port) ? s.options.port : -1);
  WMA_CHECK(port > 0, "[serve] cannot listen on ", s.options.host, ":", s.options.port,
            " (address in use, or not an address of this machine)");
  // httplib listens with a backlog of 5; a burst of clients (the 20 concurrent requests of tests/server) would
  // overflow it, and the kernel then drops handshakes. Listening again only enlarges the queue.
  WMA_CHECK(::listen(s.listen_socket, SOMAXCONN) == 0, "[serve] cannot enlarge the listen backlog");
  s.bound = true;
  return port;
}

void PolicyServer::serve() {
  Impl& s = *impl_;
  WMA_CHECK(s.bound, "[serve] serve() before bind()");
  s.listener = std::thread([&s] {
    s.http.listen_after_bind();
    s.listener_done = true;
  });
  s.queue.run();
  s.stop_listener();
}

void PolicyServer::stop() { impl_->queue.close(); }

}  // namespace wma::app::serve
