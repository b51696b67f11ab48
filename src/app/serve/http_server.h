// `wma serve`'s HTTP side (cpp-httplib): POST /predict_action and GET /health in front of one
// pipeline::DecisionPolicy. Requests are parsed and prepared on the connection threads; the model computes
// one at a time on the thread that calls serve(), with at most `max_queue` waiting (more get 503).
// Built only with the WMA_HTTP feature; docs/server.md describes the protocol.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "pipeline/decision.h"

namespace wma::app::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                             // 0: any free port (bind() returns it)
  std::size_t max_queue = 4;                   // requests waiting while one computes
  std::size_t max_body_bytes = 32u << 20;      // larger bodies get 413
  std::string description;                     // the model and device, shown by /health
  std::function<void(const std::string&)> log;  // one line per request; default: log_info
};

class PolicyServer {
 public:
  PolicyServer(pipeline::DecisionPolicy& policy, ServerOptions options);
  ~PolicyServer();
  PolicyServer(const PolicyServer&) = delete;
  PolicyServer& operator=(const PolicyServer&) = delete;

  // Binds the listening socket and returns its port; throws naming host:port when that fails.
  int bind();
  // Accepts connections on a background thread and computes requests on the calling thread until stop().
  void serve();
  // Any thread: stop accepting, let the running request finish, answer the waiting ones with 503.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;  // keeps httplib.h out of this header
};

}  // namespace wma::app::serve
