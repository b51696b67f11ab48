// The policy server: routes, status codes, the bounded job queue, per-request timing.
#include "app/serve/http_server.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "app/serve/http_listener.h"
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

}  // namespace

struct PolicyServer::Impl {
  // Parsing is one body at a time (parse_mutex); a second thread resizes images meanwhile.
  static constexpr int kPreparers = 2;

  struct Task {
    std::uint64_t connection = 0, id = 0;
    Clock::time_point start;
    std::vector<char> body;
  };
  // A request from its turn in the queue to its answer.
  struct Job {
    std::uint64_t connection = 0, id = 0;
    Clock::time_point start, submitted;
    double parse_ms = 0, prepare_ms = 0;
    pipeline::PassInput input;
  };

  pipeline::DecisionPolicy& policy;
  ServerOptions options;
  JobQueue queue;
  HttpListener listener;
  std::atomic<std::uint64_t> next_id{0};
  std::atomic<std::uint64_t> served{0};
  std::atomic<bool> closing{false};
  std::mutex parse_mutex;  // one body at a time through the JSON tree (bounds its memory)
  std::mutex tasks_mutex;
  std::condition_variable tasks_ready;
  std::deque<Task> tasks;  // requests waiting for a preparer
  bool tasks_closed = false;
  std::vector<std::thread> preparers;
  bool bound = false;

  static ServerOptions with_log(ServerOptions o) {
    if (!o.log) o.log = [](const std::string& line) { log_info(line); };
    return o;
  }

  static ListenerOptions listener_options(const ServerOptions& o) {
    ListenerOptions l;
    l.host = o.host;
    l.port = o.port;
    l.limits.max_body_bytes = o.max_body_bytes;
    l.request_timeout = o.request_timeout;
    // Bodies worth holding at once: the running request, the waiting ones and one being parsed.
    l.max_buffered_bytes = o.max_body_bytes * (o.max_queue + 2);
    l.max_connections = o.max_connections;
    l.log = o.log;
    return l;
  }

  Impl(pipeline::DecisionPolicy& p, ServerOptions o)
      : policy(p),
        options(with_log(std::move(o))),
        queue(options.max_queue),
        listener(listener_options(options),
                 [this](std::uint64_t connection, HttpRequest request) { route(connection, std::move(request)); }) {}

  std::string full_message() const {
    return str_cat("busy: one request computes and ", queue.max_waiting(), " wait (--max_queue); retry later");
  }

  // On the listener's thread: quick answers here, bodies to the preparers.
  void route(std::uint64_t connection, HttpRequest request) {
    const std::string path(request.path().substr(0, 200));
    if (request.method == "GET" && path == "/health") return listener.respond(connection, {200, health(), {}});
    if (request.method == "POST" && path == "/predict_action") return admit(connection, std::move(request.body));
    const std::string message = str_cat("no route ", request.method, " ", path, " (POST /predict_action, GET /health)");
    options.log(str_cat("serve ", request.method, " ", path, " 404 ", message));
    listener.respond(connection, {404, error_response(message), {}});
  }

  void refuse(std::uint64_t connection, std::uint64_t id, int status, const std::string& message,
              const std::string& field, const std::string& timing) {
    options.log(str_cat("serve #", id, " predict_action ", status, status == 200 ? " error " : " ",
                        field.empty() ? "" : field + ": ", message, " (", timing, ")"));
    HttpResponse response{status, error_response(message, field), {}};
    if (status == 503) response.headers.emplace_back("Retry-After", "1");
    listener.respond(connection, std::move(response));
  }

  void admit(std::uint64_t connection, std::vector<char> body) {
    const std::uint64_t id = ++next_id;
    const Clock::time_point start = Clock::now();
    if (closing) return refuse(connection, id, 503, "the server is shutting down", "", ms(0));
    // A full queue is refused before the body is parsed.
    if (queue.full()) return refuse(connection, id, 503, full_message(), "", ms(0));
    {
      std::lock_guard<std::mutex> lock(tasks_mutex);
      tasks.push_back(Task{connection, id, start, std::move(body)});
    }
    tasks_ready.notify_one();
  }

  void prepare_loop() {
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(tasks_mutex);
        tasks_ready.wait(lock, [&] { return tasks_closed || !tasks.empty(); });
        if (tasks.empty()) return;
        task = std::move(tasks.front());
        tasks.pop_front();
      }
      prepare(std::move(task));
    }
  }

  void prepare(Task task) {
    auto job = std::make_shared<Job>();
    job->connection = task.connection;
    job->id = task.id;
    job->start = task.start;
    if (closing)
      return refuse(job->connection, job->id, 503, "the server is shutting down", "", ms(ms_since(job->start)));
    try {
      pipeline::DecisionRequest request;
      {
        std::lock_guard<std::mutex> lock(parse_mutex);
        request = parse_predict_request(std::string_view(task.body.data(), task.body.size()), policy.shapes());
      }
      job->parse_ms = ms_since(job->start);
      const Clock::time_point prep = Clock::now();
      job->input = policy.prepare(request);
      job->prepare_ms = ms_since(prep);
    } catch (const RequestError& e) {
      return refuse(job->connection, job->id, e.status(), e.what(), e.field(), "parse " + ms(ms_since(job->start)));
    } catch (const std::exception& e) {
      return refuse(job->connection, job->id, 200, str_cat("internal error while preparing the request: ", e.what()),
                    "", ms(ms_since(job->start)));
    }
    job->submitted = Clock::now();
    const JobQueue::Admission admission = queue.submit([this, job](bool run) { compute(*job, run); });
    if (admission == JobQueue::Admission::Full)
      return refuse(job->connection, job->id, 503, full_message(), "", ms(ms_since(job->start)));
    if (admission == JobQueue::Admission::Closed)
      return refuse(job->connection, job->id, 503, "the server is shutting down", "", ms(ms_since(job->start)));
  }

  // On the model's thread. Failures of the model are answered 200 with result "error" too, as upstream does,
  // so that the robot client logs them.
  void compute(Job& job, bool run) {
    if (!run) return answer(job, 503, error_response("the server is shutting down"), "shut down before its turn");
    const double queued_ms = ms_since(job.submitted);
    const Device device = policy.device();
    pipeline::Profiler profiler([device] { pipeline::synchronize_device(device); });
    try {
      // The video is written under a name no other request or server uses, then moved to a free final name.
      const std::string temp_stem = str_cat(".partial_", ::getpid(), "_", job.id);
      pipeline::DecisionResult result = policy.run(job.input, temp_stem, &profiler);
      if (!result.video_path.empty())
        result.video_path = move_to_free_name(result.video_path, temp_stem, video_stem(std::time(nullptr), job.id));
      ++served;
      answer(job, 200, ok_response(result),
             str_cat("actions ", result.rows, "x", result.action_dim,
                     result.video_path.empty() ? "" : ", video " + result.video_path, " | queued ", ms(queued_ms),
                     ", conditioning ", ms(1e3 * profiler.total("synthesis/conditioning_prep")), ", sampling ",
                     ms(1e3 * profiler.total("synthesis/ddim_sampling")), ", decode ",
                     ms(1e3 * profiler.total("synthesis/decode_first_stage")), ", save ",
                     ms(1e3 * profiler.total("save_results"))));
    } catch (const std::exception& e) {
      answer(job, 200, error_response(str_cat("internal error: ", e.what())), str_cat("error ", e.what()));
    }
  }

  // The log line comes first, so that it is there when the client has its answer.
  void answer(const Job& job, int status, std::string body, const std::string& summary) {
    options.log(str_cat("serve #", job.id, " predict_action ", status, " ", summary, " | parse ", ms(job.parse_ms),
                        ", prepare ", ms(job.prepare_ms), ", total ", ms(ms_since(job.start))));
    HttpResponse response{status, std::move(body), {}};
    if (status == 503) response.headers.emplace_back("Retry-After", "1");
    listener.respond(job.connection, std::move(response));
  }

  std::string health() const {
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
                          {"served", static_cast<std::int64_t>(served.load())},
                          {"connections", static_cast<std::int64_t>(listener.connections())}};
    return io::json::dump(io::json::Value(std::move(body)));
  }
};

PolicyServer::PolicyServer(pipeline::DecisionPolicy& policy, ServerOptions options)
    : impl_(std::make_unique<Impl>(policy, std::move(options))) {}

PolicyServer::~PolicyServer() { stop(); }

int PolicyServer::bind() {
  const int port = impl_->listener.bind();
  impl_->bound = true;
  return port;
}

void PolicyServer::serve() {
  Impl& s = *impl_;
  WMA_CHECK(s.bound, "[serve] serve() before bind()");
  s.listener.start();
  for (int i = 0; i < Impl::kPreparers; ++i) s.preparers.emplace_back([&s] { s.prepare_loop(); });
  s.queue.run();
  {
    std::lock_guard<std::mutex> lock(s.tasks_mutex);
    s.tasks_closed = true;
  }
  s.tasks_ready.notify_all();
  for (std::thread& t : s.preparers) t.join();
  s.preparers.clear();
  s.listener.finish();
}

void PolicyServer::stop() {
  impl_->closing = true;
  impl_->queue.close();
}

}  // namespace wma::app::serve
