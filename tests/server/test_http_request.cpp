// The request framing of `wma serve` (app/serve/http_request.h) without sockets: requests fed whole, byte by
// byte and pipelined; chunked bodies; every ambiguous or oversized framing refused with its status before the
// body is buffered, and a buffer that never exceeds the body limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "app/serve/http_request.h"

namespace wma::app::serve {
namespace {

using State = RequestReader::State;

constexpr HttpLimits kLimits{1024, 4096};

std::string body_text(const HttpRequest& r) { return std::string(r.body.begin(), r.body.end()); }

TEST(HttpRequestReader, ParsesARequestFedWholeOrByteByByte) {
  const std::string text =
      "POST /predict_action?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Type:application/json \r\n"
      "Content-Length: 11\r\n\r\n{\"a\": [1]}\n";
  for (const bool bytewise : {false, true}) {
    RequestReader reader(kLimits);
    std::size_t used = 0;
    if (bytewise) {
      for (std::size_t i = 0; i < text.size(); ++i) {
        ASSERT_NE(reader.state(), State::Complete) << "complete before byte " << i;
        used += reader.feed(std::string_view(text).substr(i, 1));
      }
    } else {
      used = reader.feed(text);
    }
    EXPECT_EQ(used, text.size());
    ASSERT_EQ(reader.state(), State::Complete) << reader.error_message();
    const HttpRequest r = reader.take();
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/predict_action?x=1");
    EXPECT_EQ(r.path(), "/predict_action");
    ASSERT_NE(r.header("content-type"), nullptr);
    EXPECT_EQ(*r.header("content-type"), "application/json");
    EXPECT_EQ(body_text(r), "{\"a\": [1]}\n");
    EXPECT_TRUE(r.keep_alive());
    EXPECT_EQ(reader.state(), State::Idle);
  }
}

TEST(HttpRequestReader, PipelinedRequestsAreTakenOneAtATime) {
  const std::string first = "\r\nGET /health HTTP/1.1\r\nHost: a\r\n\r\n";  // an empty line before is ignored
  const std::string second = "POST /p HTTP/1.1\nContent-Length: 2\nConnection: keep-alive, close\n\nok";
  RequestReader reader(kLimits);
  const std::string both = first + second;
  const std::size_t used = reader.feed(both);
  EXPECT_EQ(used, first.size());
  ASSERT_EQ(reader.state(), State::Complete);
  EXPECT_EQ(reader.take().method, "GET");
  EXPECT_EQ(reader.feed(std::string_view(both).substr(used)), second.size());
  ASSERT_EQ(reader.state(), State::Complete) << reader.error_message();
  const HttpRequest r = reader.take();
  EXPECT_EQ(body_text(r), "ok");
  EXPECT_FALSE(r.keep_alive());
}

TEST(HttpRequestReader, HttpOneZeroClosesAfterOneRequest) {
  RequestReader reader(kLimits);
  reader.feed("GET /health HTTP/1.0\r\n\r\n");
  ASSERT_EQ(reader.state(), State::Complete);
  const HttpRequest r = reader.take();
  EXPECT_EQ(r.minor_version, 0);
  EXPECT_FALSE(r.keep_alive());
}

TEST(HttpRequestReader, DecodesChunkedBodiesWithExtensionsAndTrailers) {
  const std::string text = "POST /p HTTP/1.1\r\nTransfer-Encoding: Chunked\r\nExpect: 100-continue\r\n\r\n"
                           "5;name=value\r\nhello\r\n1\r\n \r\n00005\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\nGET";
  for (const bool bytewise : {false, true}) {
    RequestReader reader(kLimits);
    std::size_t used = 0;
    bool asked_continue = false;
    for (std::size_t i = 0; i < text.size() && reader.state() != State::Complete;) {
      const std::size_t n = bytewise ? 1 : text.size() - i;
      const std::size_t u = reader.feed(std::string_view(text).substr(i, n));
      asked_continue = asked_continue || reader.wants_continue();
      used += u;
      i += n;
      if (u < n) break;
    }
    ASSERT_EQ(reader.state(), State::Complete) << reader.error_message();
    EXPECT_EQ(used, text.size() - 3);
    // Fed whole, the body is there before anyone could be asked to send it.
    EXPECT_EQ(asked_continue, bytewise);
    EXPECT_EQ(body_text(reader.take()), "hello world");
  }
}

struct Refusal {
  std::string text;
  int status;
  std::string message;  // part of the message
};

TEST(HttpRequestReader, RefusesAmbiguousOrMalformedFraming) {
  const std::string post = "POST /p HTTP/1.1\r\nHost: a\r\n";
  const std::vector<Refusal> cases = {
      {post + "Content-Length: 2\r\nContent-Length: 2\r\n\r\nok", 400, "duplicate Content-Length"},
      {post + "Content-Length: 2\r\ncontent-length: 3\r\n\r\nok", 400, "duplicate Content-Length"},
      {post + "Content-Length: 2, 2\r\n\r\nok", 400, "malformed Content-Length"},
      {post + "Content-Length: +2\r\n\r\nok", 400, "malformed Content-Length"},
      {post + "Content-Length: 0x2\r\n\r\nok", 400, "malformed Content-Length"},
      {post + "Content-Length:\r\n\r\nok", 400, "empty Content-Length"},
      {post + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 400, "ambiguous"},
      {post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "not supported"},
      {post + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501, "not supported"},
      {"POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0"},
      {post + "Content-Length : 2\r\n\r\nok", 400, "malformed header line"},
      {post + "X-A: 1\r\n folded\r\n\r\n", 400, "folded"},
      {post + "X-A: a\x01"
              "b\r\n\r\n",
       400, "control character"},
      {post + "X-A: a\rb\r\n\r\n", 400, "control character"},
      {post + "no colon\r\n\r\n", 400, "malformed header line"},
      {"GET  /health HTTP/1.1\r\n\r\n", 400, "malformed request line"},
      {"GET /health\r\n\r\n", 400, "malformed request line"},
      {"GET /health HTTP/1.1 x\r\n\r\n", 400, "malformed request line"},
      {"G(T /health HTTP/1.1\r\n\r\n", 400, "malformed method"},
      {"GET /he\x7fl HTTP/1.1\r\n\r\n", 400, "malformed request target"},
      {"GET /health HTTP/11\r\n\r\n", 400, "malformed HTTP version"},
      {"GET /health HTTP/2.0\r\n\r\n", 505, "not supported"},
      {post + "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "malformed chunk size"},
      {post + "Transfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n", 400, "malformed chunk size"},
      {post + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400, "not followed by CRLF"},
      {post + "Transfer-Encoding: chunked\r\n\r\n" + std::string(2000, '0') + "\r\n", 400, "chunk-size line"},
  };
  for (const Refusal& c : cases) {
    RequestReader reader(kLimits);
    reader.feed(c.text);
    ASSERT_EQ(reader.state(), State::Failed) << c.text;
    EXPECT_EQ(reader.error_status(), c.status) << c.text;
    EXPECT_NE(reader.error_message().find(c.message), std::string::npos) << c.text << ": " << reader.error_message();
  }
}

TEST(HttpRequestReader, HeadAndTrailersWithinTheHeadLimit) {
  RequestReader head(kLimits);
  const std::string long_head = "GET /health HTTP/1.1\r\nX-Pad: " + std::string(2000, 'a') + "\r\n\r\n";
  EXPECT_LT(head.feed(long_head), long_head.size());
  EXPECT_EQ(head.state(), State::Failed);
  EXPECT_EQ(head.error_status(), 431);

  RequestReader trailers(kLimits);
  std::string text = "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  for (int i = 0; i < 100; ++i) text += "X-Trailer: " + std::string(20, 'b') + "\r\n";
  trailers.feed(text + "\r\n");
  EXPECT_EQ(trailers.state(), State::Failed);
  EXPECT_EQ(trailers.error_status(), 431);
}

// The body limit is judged on the declared length and on each chunk's size, before the bytes are kept.
TEST(HttpRequestReader, BodiesOverTheLimitAreRefusedBeforeTheyAreBuffered) {
  {
    RequestReader reader(kLimits);
    const std::string head = "POST /p HTTP/1.1\r\nContent-Length: 4097\r\n\r\n";
    EXPECT_EQ(reader.feed(head + "xxxx"), head.size());
    EXPECT_EQ(reader.state(), State::Failed);
    EXPECT_EQ(reader.error_status(), 413);
    EXPECT_NE(reader.error_message().find("--max_body_bytes"), std::string::npos) << reader.error_message();
    EXPECT_EQ(reader.request().body.capacity(), 0u);
  }
  for (const std::string length : {"99999999999999999999999999", "18446744073709551616"}) {
    RequestReader reader(kLimits);
    reader.feed("POST /p HTTP/1.1\r\nContent-Length: " + length + "\r\n\r\n");
    EXPECT_EQ(reader.error_status(), 413) << length;
  }
  for (const std::string size : {"1001", "ffffffffffffffffffffffff", "10000000000000000"}) {
    RequestReader reader(kLimits);
    const std::string head =
        "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nc00\r\n" + std::string(3072, 'a') + "\r\n";
    EXPECT_EQ(reader.feed(head), head.size());
    ASSERT_EQ(reader.state(), State::Body) << reader.error_message();
    const std::size_t before = reader.request().body.capacity();
    reader.feed(size + "\r\n" + std::string(64, 'a'));
    EXPECT_EQ(reader.state(), State::Failed) << size;
    EXPECT_EQ(reader.error_status(), 413) << size;
    EXPECT_EQ(reader.request().body.capacity(), before) << size;
  }
  // Exactly the limit, in small chunks: accepted, and the buffer never grew past it.
  RequestReader reader(kLimits);
  reader.feed("POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::size_t largest = 0;
  for (int i = 0; i < 4096 / 16; ++i) {
    reader.feed("10\r\n" + std::string(16, 'c') + "\r\n");
    largest = std::max(largest, reader.request().body.capacity());
  }
  reader.feed("0\r\n\r\n");
  ASSERT_EQ(reader.state(), State::Complete) << reader.error_message();
  EXPECT_EQ(reader.take().body.size(), 4096u);
  EXPECT_LE(largest, 4096u);
}

}  // namespace
}  // namespace wma::app::serve
