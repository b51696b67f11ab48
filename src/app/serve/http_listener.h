// The sockets of `wma serve`: one thread accepts, reads and writes every connection without blocking (poll),
// so a client that sends slowly holds a few bytes and a file descriptor, never a thread. A request reaches
// the handler only once it has arrived whole; answers from any thread are written by this one.
//
// Bounds, whatever clients do:
// - time: each request must arrive within `request_timeout` of the connection's accept or of the previous
//   answer (else 408, or a silent close if nothing came); an answer must be read within the same time; after a
//   refusal the connection is drained (input discarded) for at most kLinger so that the client reads its
//   status rather than a reset;
// - memory: a request's head and body within HttpLimits; bodies of all connections together within
//   `max_buffered_bytes`, beyond which connections wait before reading more body (all but the oldest request,
//   so they cannot starve each other); at most `max_connections` open, the rest wait in the listen backlog.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "app/serve/http_request.h"

namespace wma::app::serve {

struct ListenerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port
  HttpLimits limits;
  std::chrono::milliseconds request_timeout{30000};
  std::size_t max_buffered_bytes = 128u << 20;
  std::size_t max_connections = 512;
  std::function<void(const std::string&)> log;  // one line per refusal of the listener itself
};

struct HttpResponse {
  int status = 200;
  std::string body;                                          // JSON
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type, -Length and Connection
};

class HttpListener {
 public:
  // Called on the listener's thread for each complete request; must return quickly and, on any thread and
  // at any later time, answer it once through respond().
  using Handler = std::function<void(std::uint64_t connection, HttpRequest request)>;

  HttpListener(ListenerOptions options, Handler handler);
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Binds and listens; returns the port. Throws naming host:port when that fails.
  int bind();
  // Starts the listener's thread.
  void start();
  // Any thread. An answer for a connection that has closed meanwhile is dropped.
  void respond(std::uint64_t connection, HttpResponse response);
  // Stops accepting and reading, writes the answers given so far (for at most kLinger), closes everything and
  // joins the thread.
  void finish();
  // Open connections (for /health).
  std::size_t connections() const { return open_connections_.load(); }

  static constexpr std::chrono::milliseconds kLinger{5000};

 private:
  using Clock = std::chrono::steady_clock;
  enum class Phase { Reading, Working, Writing, Lingering, Closed };
  struct Connection {
    Connection(std::uint64_t id, int fd, HttpLimits limits, Clock::time_point deadline)
        : id(id), fd(fd), reader(limits), deadline(deadline) {}
    std::uint64_t id;
    int fd;
    Phase phase = Phase::Reading;
    RequestReader reader;
    std::string leftover;  // bytes after a complete request (pipelined), read once it is answered
    std::string out;       // the answer being written
    std::size_t sent = 0;
    bool keep_alive = false;  // of the request being answered
    bool continue_sent = false;
    Clock::time_point deadline;
    std::uint64_t request = 0;  // order in which its current request began
    std::size_t held = 0;       // bytes counted in buffered_
  };

  ListenerOptions options_;
  Handler handler_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: respond() and finish() wake poll()
  std::thread thread_;
  std::atomic<std::size_t> open_connections_{0};

  std::mutex mutex_;  // guards posted_ and finishing_
  std::vector<std::pair<std::uint64_t, HttpResponse>> posted_;
  bool finishing_ = false;

  // The listener thread's own state.
  std::unordered_map<std::uint64_t, Connection> connections_;
  std::uint64_t next_connection_ = 0, next_request_ = 0;
  std::size_t buffered_ = 0;  // bytes held by all connections (request buffers and requests being answered)
  Clock::time_point accept_paused_until_{};
  bool stopping_ = false;  // finish() has been seen
  std::vector<char> read_buffer_;

  void run();
  void wake();
  bool take_posted(Clock::time_point now);
  void begin_stopping(Clock::time_point now);
  void close_finished();
  void accept_all(Clock::time_point now);
  void on_readable(Connection& c, Clock::time_point now);
  void consume(Connection& c, std::string_view data, Clock::time_point now);
  void answer(Connection& c, HttpResponse response, bool keep_alive, Clock::time_point now);
  void write_some(Connection& c, Clock::time_point now);
  void expire(Connection& c, Clock::time_point now);
  void account(Connection& c);
  void refuse(Connection& c, int status, std::string message, Clock::time_point now);  // a copy: the reader is reset
};

}  // namespace wma::app::serve
