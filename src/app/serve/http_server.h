// `wma serve`'s HTTP side: POST /predict_action and GET /health in front of one pipeline::DecisionPolicy.
// Connections are read and written by HttpListener's one thread, which also answers /health and every
// refusal that needs no body, so no request can delay them; bodies are parsed and prepared on two preparer
// threads; the model computes one at a time on the thread that calls serve(), with at most `max_queue`
// waiting (more get 503). Built only with the WMA_HTTP feature; docs/server.md describes the protocol.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "pipeline/decision.h"

namespace wma::app::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                                   // 0: any free port (bind() returns it)
  std::size_t max_queue = 4;                         // requests waiting while one computes
  std::size_t max_body_bytes = 32u << 20;            // larger bodies get 413
  std::chrono::milliseconds request_timeout{30000};  // to send a request, or read its answer (else 408)
  std::size_t max_connections = 512;                 // more wait in the listen backlog
  std::string description;                           // the model and device, shown by /health
  std::function<void(const std::string&)> log;       // one line per request; default: log_info
};

class PolicyServer {
 public:
  PolicyServer(pipeline::DecisionPolicy& policy, ServerOptions options);
  ~PolicyServer();
  PolicyServer(const PolicyServer&) = delete;
  PolicyServer& operator=(const PolicyServer&) = delete;

  // Binds the listening socket and returns its port; throws naming host:port when that fails.
  int bind();
  // Serves connections on background threads and computes requests on the calling thread until stop().
  void serve();
  // Any thread: stop accepting, let the running request finish, answer the waiting ones with 503.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wma::app::serve
