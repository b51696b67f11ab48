// JSON parser and writer: values, exact integers, escapes, and refusal of malformed input.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "io/json.h"

namespace wma::io {
namespace {

TEST(Json, ParsesNestedDocumentsInOrder) {
  const json::Value v = json::parse(R"( {"b": [1, -2.5, true, null, "x"], "a": {"k": false}, "e": []} )");
  ASSERT_TRUE(v.is_object());
  const auto& members = v.as_object();
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0].first, "b");
  EXPECT_EQ(members[1].first, "a");
  const auto& b = v.at("b").as_array();
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b[0].as_int(), 1);
  EXPECT_DOUBLE_EQ(b[1].as_number(), -2.5);
  EXPECT_FALSE(b[1].is_int());
  EXPECT_TRUE(b[2].as_bool());
  EXPECT_TRUE(b[3].is_null());
  EXPECT_EQ(b[4].as_string(), "x");
  EXPECT_FALSE(v.at("a").at("k").as_bool());
  EXPECT_TRUE(v.at("e").as_array().empty());
  EXPECT_EQ(v.find("missing"), nullptr);
  EXPECT_THROW(v.at("missing"), Error);
  EXPECT_THROW(v.at("b").as_string(), Error);
}

TEST(Json, KeepsLargeIntegersExact) {
  const json::Value v = json::parse("[9007199254740993, -9223372036854775808, 18446744073709551616, 1e3, 0, -0]");
  const auto& a = v.as_array();
  EXPECT_EQ(a[0].as_int(), 9007199254740993LL);
  EXPECT_EQ(a[1].as_int(), INT64_MIN);
  EXPECT_FALSE(a[2].is_int());  // beyond int64: kept as a double
  EXPECT_DOUBLE_EQ(a[2].as_number(), 18446744073709551616.0);
  EXPECT_FALSE(a[3].is_int());
  EXPECT_DOUBLE_EQ(a[3].as_number(), 1000.0);
  EXPECT_EQ(a[4].as_int(), 0);
  EXPECT_THROW(a[3].as_int(), Error);
}

TEST(Json, DecodesEscapesAndUnicode) {
  const json::Value v = json::parse(R"("a\"b\\c\/d\n\t\u00e9\u20ac\ud83d\ude00")");
  EXPECT_EQ(v.as_string(), "a\"b\\c/d\n\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

TEST(Json, DumpRoundTrips) {
  const std::string text = R"({"name":"x\"y\n\u0001","n":[1,-2,0.5,1e+100],"t":true,"z":null,"o":{}})";
  const json::Value v = json::parse(text);
  const std::string dumped = json::dump(v);
  EXPECT_EQ(json::dump(json::parse(dumped)), dumped);
  EXPECT_EQ(json::parse(dumped).at("name").as_string(), "x\"y\n\x01");
  EXPECT_DOUBLE_EQ(json::parse(dumped).at("n").as_array()[3].as_number(), 1e100);
  // Found by fuzz/fuzz_json: -0.0 was written as "-0", which reads back as the integer 0.
  EXPECT_EQ(json::dump(json::parse("[-0.0,-0,0.0]")), "[-0.0,0,0]");
  EXPECT_TRUE(std::signbit(json::parse(json::dump(json::parse("-0.0"))).as_number()));
  json::Value built{json::Object{}};
  built.set("k", json::Value(std::int64_t{5}));
  built.set("k", json::Value("v"));
  EXPECT_EQ(json::dump(built), R"({"k":"v"})");
}

TEST(Json, RefusesMalformedInputWithPosition) {
  const char* bad[] = {
      "",
      "   ",
      "{",
      "[1,]",
      "{\"a\":1,}",
      "{\"a\" 1}",
      "{a:1}",
      "\"abc",
      "01",
      "1.",
      "1e",
      "-",
      "+1",
      "tru",
      "nul",
      "[1] [2]",
      "\"\\x\"",
      "\"\\u12\"",
      "\"\\ud800\"",
      "\"\\udc00x\"",
      "NaN",
      "\"a\nb\"",
      "{\"a\":1,\"a\":2}",
      "[1 2]",
      "1e999",
  };
  for (const char* text : bad) {
    try {
      json::parse(text);
      ADD_FAILURE() << "accepted malformed JSON: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("[json] line "), std::string::npos) << e.what();
    }
  }
}

// Keys are checked through a hash set (a server parses untrusted bodies; a pairwise check of 200k keys
// would take minutes).
TEST(Json, ManyKeysAndLateDuplicate) {
  std::string doc = "{";
  for (int i = 0; i < 200000; ++i) doc += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":0";
  EXPECT_EQ(json::parse(doc + "}").as_object().size(), 200000u);
  EXPECT_THROW(json::parse(doc + ",\"k199999\":1}"), Error);
}

TEST(JsonReadObject, MembersInOrderWithNumberArraysInBuffers) {
  std::vector<std::string> seen;
  json::NumberArray grid;
  std::string name;
  json::read_object(R"( {"name": "cam", "skip": {"x": [1, {"y": null}]}, "grid": [[1, 2, 3], [4, 5.5, -6e1]]} )",
                    [&](const std::string& key, json::MemberReader& m) {
                      seen.push_back(key);
                      if (key == "name") name = m.value().as_string();
                      if (key == "grid") grid = m.numbers(2);
                    });
  EXPECT_EQ(seen, (std::vector<std::string>{"name", "skip", "grid"}));
  EXPECT_EQ(name, "cam");
  EXPECT_EQ(grid.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(grid.values, (std::vector<double>{1, 2, 3, 4, 5.5, -60}));
  EXPECT_EQ(grid.first_non_integer, 4);

  json::NumberArray empty;
  json::read_object(R"({"e": [[], []]})", [&](const std::string&, json::MemberReader& m) { empty = m.numbers(3); });
  EXPECT_EQ(empty.shape, (std::vector<std::int64_t>{2, 0, 0}));
  EXPECT_TRUE(empty.values.empty());
}

TEST(JsonReadObject, StructureErrorsNameThePositionSyntaxErrorsStaySyntax) {
  auto read = [](const std::string& doc, std::size_t rank) {
    json::read_object(doc, [&](const std::string&, json::MemberReader& m) { m.numbers(rank); });
  };
  const std::pair<const char*, const char*> structure[] = {
      {R"({"a": [[1, 2], [3]]})", "[1]"},  // ragged, short
      {R"({"a": [[1], [2, 3]]})", "[1]"},  // ragged, long (refused before reading on)
      {R"({"a": [[1, "2"]]})", "[0][1]"},  // a string among numbers
      {R"({"a": [[1, [2]]]})", "[0][1]"},  // too deep
      {R"({"a": [1, 2]})", "[0]"},         // too shallow
      {R"({"a": null})", ""},
  };
  for (const auto& [doc, path] : structure) {
    try {
      read(doc, 2);
      ADD_FAILURE() << "accepted " << doc;
    } catch (const json::StructureError& e) {
      EXPECT_EQ(e.path(), path) << doc << ": " << e.what();
    }
  }
  for (const char* doc :
       {R"({"a": [[1, 2], [3, 4]})", R"({"a": [[1, 2],, [3, 4]]})", R"({"a": [[1, 02]]})", R"({"a": [[1, 2]]} x)",
        R"([[1, 2]])", R"({"a": [[1]], "a": [[2]]})", R"({"a": [[1]], "b": [[1],]})", "", R"({"a": [[1e999]]})"}) {
    try {
      read(doc, 2);
      ADD_FAILURE() << "accepted " << doc;
    } catch (const json::StructureError& e) {
      ADD_FAILURE() << "a syntax error reported as structure: " << doc << ": " << e.what();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("[json] line "), std::string::npos) << e.what();
    }
  }
}

TEST(Json, LimitsNestingDepth) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_THROW(json::parse(deep), Error);
  const std::string ok = std::string(50, '[') + std::string(50, ']');
  EXPECT_NO_THROW(json::parse(ok));
}

}  // namespace
}  // namespace wma::io
