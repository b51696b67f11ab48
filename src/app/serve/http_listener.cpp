// The connection loop of `wma serve`.
#include "app/serve/http_listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "app/serve/request.h"
#include "core/error.h"
#include "core/log.h"

namespace wma::app::serve {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 64u << 10;  // per connection and poll round, so one fast client cannot starve others
constexpr std::chrono::milliseconds kAcceptPause{100};
constexpr Clock::time_point kNever = Clock::time_point::max();

std::string seconds_text(std::chrono::milliseconds t) { return str_cat(static_cast<double>(t.count()) / 1000.0, " s"); }

}  // namespace

HttpListener::HttpListener(ListenerOptions options, Handler handler)
    : options_(std::move(options)), handler_(std::move(handler)), read_buffer_(kReadChunk) {
  if (!options_.log) options_.log = [](const std::string& line) { log_info(line); };
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  WMA_CHECK(wake_fd_ >= 0, "[serve] eventfd: ", std::strerror(errno));
}

HttpListener::~HttpListener() {
  finish();
  for (const auto& [id, c] : connections_) ::close(c.fd);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  ::close(wake_fd_);
}

int HttpListener::bind() {
  const std::string where = str_cat(options_.host, ":", options_.port), port = std::to_string(options_.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &found);
  WMA_CHECK(rc == 0, "[serve] cannot listen on ", where, ": ", ::gai_strerror(rc));
  std::string why = "no address";
  for (addrinfo* a = found; a != nullptr && listen_fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // A burst of clients (tests/server opens 50 at once) must not overflow the backlog: the kernel would drop
    // their handshakes.
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      listen_fd_ = fd;
    } else {
      why = std::strerror(errno);
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  WMA_CHECK(listen_fd_ >= 0, "[serve] cannot listen on ", where, ": ", why,
            " (address in use, or not an address of this machine)");
  sockaddr_storage addr{};
  socklen_t length = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &length);
  return ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(addr).sin6_port
                                          : reinterpret_cast<const sockaddr_in&>(addr).sin_port);
}

void HttpListener::start() {
  WMA_CHECK(listen_fd_ >= 0, "[serve] start() before bind()");
  thread_ = std::thread([this] { run(); });
}

void HttpListener::wake() {
  const std::uint64_t one = 1;
  // Fails only when the counter is already huge, and then poll() wakes anyway.
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void HttpListener::respond(std::uint64_t connection, HttpResponse response) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    posted_.emplace_back(connection, std::move(response));
  }
  wake();
}

void HttpListener::finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finishing_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
}

void HttpListener::run() {
  std::vector<pollfd> fds;
  std::vector<Connection*> polled;  // fds[i + first] belongs to polled[i]; elements of an unordered_map stay put
  for (;;) {
    Clock::time_point now = Clock::now();
    if (take_posted(now) && !stopping_) begin_stopping(now);
    for (auto& [id, c] : connections_)
      if (c.phase != Phase::Closed && c.deadline <= now) expire(c, now);
    close_finished();
    if (stopping_ && connections_.empty()) return;

    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    polled.clear();
    Clock::time_point next = kNever;
    const bool accepting = !stopping_ && connections_.size() < options_.max_connections;
    if (accepting && now < accept_paused_until_) next = accept_paused_until_;
    if (accepting && now >= accept_paused_until_) fds.push_back(pollfd{listen_fd_, POLLIN, 0});
    const std::size_t first = fds.size();
    // Over the budget only the oldest request still reading its body reads on: the requests that together
    // fill it would otherwise wait for each other until their deadlines.
    const Connection* oldest = nullptr;
    for (const auto& [id, c] : connections_)
      if (c.phase == Phase::Reading && c.reader.state() == RequestReader::State::Body &&
          (oldest == nullptr || c.request < oldest->request))
        oldest = &c;
    for (auto& [id, c] : connections_) {
      next = std::min(next, c.deadline);
      const bool may_read =
          c.reader.state() != RequestReader::State::Body || buffered_ < options_.max_buffered_bytes || &c == oldest;
      short events = 0;
      if ((c.phase == Phase::Reading && may_read) || c.phase == Phase::Lingering) events = POLLIN;
      if (c.phase == Phase::Writing) events = POLLOUT;
      if (events == 0) continue;
      fds.push_back(pollfd{c.fd, events, 0});
      polled.push_back(&c);
    }
    const int timeout =
        next == kNever ? -1
                       : static_cast<int>(
                             std::clamp<std::int64_t>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count(),
                                                      0, INT_MAX));
    if (::poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno != EINTR) log_warn("[serve] poll: ", std::strerror(errno));
      continue;
    }
    now = Clock::now();
    if (fds[0].revents != 0) {
      std::uint64_t count = 0;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &count, sizeof count);
    }
    if (first == 2 && fds[1].revents != 0) accept_all(now);
    for (std::size_t i = first; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Connection& c = *polled[i - first];
      if (c.phase == Phase::Writing) write_some(c, now);
      else on_readable(c, now);
    }
  }
}

void HttpListener::close_finished() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (it->second.phase != Phase::Closed) {
      ++it;
      continue;
    }
    ::close(it->second.fd);
    buffered_ -= it->second.held;
    it = connections_.erase(it);
  }
  open_connections_ = connections_.size();
}

bool HttpListener::take_posted(Clock::time_point now) {
  std::vector<std::pair<std::uint64_t, HttpResponse>> posted;
  bool finishing = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    posted.swap(posted_);
    finishing = finishing_;
  }
  for (auto& [id, response] : posted) {
    const auto it = connections_.find(id);
    if (it == connections_.end() || it->second.phase != Phase::Working) continue;  // the client has gone
    answer(it->second, std::move(response), it->second.keep_alive && !stopping_, now);
  }
  return finishing;
}

void HttpListener::begin_stopping(Clock::time_point now) {
  stopping_ = true;
  ::close(listen_fd_);
  listen_fd_ = -1;
  for (auto& [id, c] : connections_) {
    if (c.phase == Phase::Working || c.phase == Phase::Writing) c.deadline = std::min(c.deadline, now + kLinger);
    else c.phase = Phase::Closed;
  }
}

void HttpListener::accept_all(Clock::time_point now) {
  while (connections_.size() < options_.max_connections) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && (errno == EINTR || errno == ECONNABORTED)) continue;
    if (fd < 0) {
      // Out of descriptors or memory: the listen socket stays readable, so wait rather than spin.
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        log_warn("[serve] accept: ", std::strerror(errno), " (", connections_.size(), " connections open)");
        accept_paused_until_ = now + kAcceptPause;
      }
      return;
    }
    const std::uint64_t id = ++next_connection_;
    connections_.emplace(id, Connection(id, fd, options_.limits, now + options_.request_timeout));
  }
}

void HttpListener::on_readable(Connection& c, Clock::time_point now) {
  const ssize_t n = ::recv(c.fd, read_buffer_.data(), read_buffer_.size(), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    c.phase = Phase::Closed;
    return;
  }
  if (c.phase == Phase::Lingering) return;  // drained
  consume(c, std::string_view(read_buffer_.data(), static_cast<std::size_t>(n)), now);
}

void HttpListener::consume(Connection& c, std::string_view data, Clock::time_point now) {
  const bool started = c.reader.started();
  const std::size_t used = c.reader.feed(data);
  if (!started && c.reader.started()) c.request = ++next_request_;
  account(c);
  switch (c.reader.state()) {
    case RequestReader::State::Failed: refuse(c, c.reader.error_status(), c.reader.error_message(), now); return;
    case RequestReader::State::Complete: {
      // Still counted in buffered_ until it is answered.
      c.leftover.assign(data.substr(used));
      HttpRequest request = c.reader.take();
      c.keep_alive = request.keep_alive();
      c.phase = Phase::Working;
      c.deadline = kNever;
      handler_(c.id, std::move(request));
      return;
    }
    case RequestReader::State::Body:
      if (c.reader.wants_continue() && !c.continue_sent) {
        // The previous answer has been written whole, so these bytes fit the empty send buffer.
        constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        if (::send(c.fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(kContinue.size()))
          c.phase = Phase::Closed;
        c.continue_sent = true;
      }
      return;
    case RequestReader::State::Idle:
    case RequestReader::State::Head: return;
  }
}

void HttpListener::account(Connection& c) {
  const std::size_t held = c.reader.buffered_bytes() + c.leftover.capacity() + c.out.capacity();
  buffered_ = buffered_ - c.held + held;
  c.held = held;
}

void HttpListener::refuse(Connection& c, int status, std::string message, Clock::time_point now) {
  const HttpRequest& r = c.reader.request();
  options_.log(str_cat("serve ", r.method.empty() ? "-" : r.method, " ",
                       r.target.empty() ? "-" : r.target.substr(0, 200), " ", status, " ", message));
  // The rest of the stream cannot be framed after a refusal, so the connection closes; what it buffered goes.
  c.reader = RequestReader(options_.limits);
  answer(c, HttpResponse{status, error_response(message), {}}, false, now);
}

void HttpListener::answer(Connection& c, HttpResponse response, bool keep_alive, Clock::time_point now) {
  std::string out = str_cat("HTTP/1.1 ", response.status, " ", http_reason(response.status),
                            "\r\nContent-Type: application/json\r\nContent-Length: ", response.body.size(), "\r\n");
  for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  out += response.body;
  c.out = std::move(out);
  c.sent = 0;
  c.keep_alive = keep_alive;
  c.phase = Phase::Writing;
  c.deadline = stopping_ ? std::min(c.deadline, now + kLinger) : now + options_.request_timeout;
  account(c);
  write_some(c, now);
}

void HttpListener::write_some(Connection& c, Clock::time_point now) {
  while (c.sent < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) {
      c.phase = Phase::Closed;
      return;
    }
    c.sent += static_cast<std::size_t>(n);
  }
  c.out = std::string();
  c.sent = 0;
  account(c);
  if (stopping_) {
    c.phase = Phase::Closed;
    return;
  }
  if (!c.keep_alive) {
    // The client may still be sending (a body refused at its head): half-close and drain its input, so that
    // it reads the answer rather than a connection reset.
    ::shutdown(c.fd, SHUT_WR);
    c.phase = Phase::Lingering;
    c.deadline = now + kLinger;
    return;
  }
  c.phase = Phase::Reading;
  c.continue_sent = false;
  c.deadline = now + options_.request_timeout;
  if (!c.leftover.empty()) {
    const std::string pipelined = std::move(c.leftover);
    c.leftover.clear();
    consume(c, pipelined, now);
  }
}

void HttpListener::expire(Connection& c, Clock::time_point now) {
  if (c.phase == Phase::Reading && c.reader.started() && !stopping_) {
    refuse(c, 408,
           str_cat("the request did not arrive within ", seconds_text(options_.request_timeout),
                   " (--request_timeout)"),
           now);
    return;
  }
  c.phase = Phase::Closed;
}

}  // namespace wma::app::serve
