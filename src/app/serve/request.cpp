// predict_action request checks and response bodies.
#include "app/serve/request.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "core/error.h"
#include "io/json.h"

namespace wma::app::serve {
namespace {

namespace json = io::json;

const char* kind_name(json::Value::Kind k) {
  switch (k) {
    case json::Value::Kind::Null: return "null";
    case json::Value::Kind::Bool: return "a boolean";
    case json::Value::Kind::Number: return "a number";
    case json::Value::Kind::String: return "a string";
    case json::Value::Kind::Array: return "an array";
    case json::Value::Kind::Object: return "an object";
  }
  return "?";
}

[[noreturn]] void refuse(const std::string& field, const std::string& message) {
  throw RequestError(200, field, message);
}

// The shape as written in messages: [2][3][480][640].
std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out;
  for (std::int64_t d : shape) out += str_cat("[", d, "]");
  return out;
}

// The position of flat index `i` in `shape`, as [o][c][y][x].
std::string position_text(std::int64_t i, const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = shape[d] > 0 ? i % shape[d] : 0;
    i = shape[d] > 0 ? i / shape[d] : 0;
  }
  return shape_text(index);
}

json::NumberArray read_numbers(json::MemberReader& member, const std::string& field, std::size_t rank) {
  try {
    return member.numbers(rank);
  } catch (const json::StructureError& e) {
    refuse(field, str_cat(field, e.path(), " ", e.what()));
  }
}

// `expected` sizes, -1 for any positive size.
void check_shape(const json::NumberArray& a, const std::string& field, const std::vector<std::int64_t>& expected,
                 const std::string& expected_text) {
  bool ok = a.shape.size() == expected.size();
  for (std::size_t d = 0; ok && d < expected.size(); ++d)
    ok = expected[d] < 0 ? a.shape[d] > 0 : a.shape[d] == expected[d];
  if (!ok) refuse(field, str_cat(field, " is ", shape_text(a.shape), ", expected ", expected_text));
}

}  // namespace

pipeline::DecisionRequest parse_predict_request(std::string_view body, const pipeline::DecisionShapes& shapes,
                                                const RequestLimits& limits) {
  const std::string kText = "language_instruction", kImages = "observation.images.top", kState = "observation.state",
                    kAction = "action";
  // Checked once the whole body has parsed, so that a syntax error after it still gets 422.
  std::optional<json::Value> text;
  std::optional<json::NumberArray> images, states, action;
  try {
    json::read_object(body, [&](const std::string& key, json::MemberReader& member) {
      if (key == kText) {
        text = member.value();
      } else if (key == kImages) {
        images = read_numbers(member, kImages, 4);
      } else if (key == kState) {
        states = read_numbers(member, kState, 2);
      } else if (key == kAction) {
        action = read_numbers(member, kAction, 2);
      }
    });
  } catch (const RequestError&) {
    throw;
  } catch (const Error& e) {
    throw RequestError(422, "", str_cat("the body is not a valid JSON object: ", e.what()));
  }

  const std::int64_t steps = shapes.observation_steps;
  auto missing = [](const std::string& field, const std::string& what) {
    refuse(field, str_cat("missing field '", field, "' (", what, ")"));
  };
  if (!text) missing(kText, "a string");
  if (!text->is_string()) refuse(kText, str_cat(kText, " must be a string, got ", kind_name(text->kind())));
  const std::string images_text = str_cat("[", steps, "][3][H][W] integers 0..255 (RGB8)");
  const std::string state_text = str_cat("[", steps, "][", shapes.state_dim, "] numbers");
  const std::string action_text = str_cat("[", shapes.action_rows, "][", shapes.action_dim, "] numbers");
  if (!images) missing(kImages, images_text);
  if (!states) missing(kState, state_text);
  if (!action) missing(kAction, action_text);

  pipeline::DecisionRequest request;
  request.instruction = text->as_string();
  {
    check_shape(*images, kImages, {steps, 3, -1, -1}, images_text);
    const std::int64_t h = images->shape[2], w = images->shape[3];
    if (images->first_non_integer >= 0)
      refuse(kImages, str_cat(kImages, position_text(images->first_non_integer, images->shape),
                              " must be an integer 0..255 (RGB8), got ", images->values[images->first_non_integer]));
    std::vector<float> pixels(images->values.size());
    for (std::size_t i = 0; i < pixels.size(); ++i) {
      const double v = images->values[i];
      if (v < 0 || v > 255)
        refuse(kImages, str_cat(kImages, position_text(static_cast<std::int64_t>(i), images->shape),
                                " must be an integer 0..255 (RGB8), got ", v));
      pixels[i] = static_cast<float>(v);
    }
    if (std::max(h, w) > limits.max_aspect_ratio * std::min(h, w))
      refuse(kImages, str_cat(kImages, " frames are ", h, "x", w, "; the long side may be at most ",
                              limits.max_aspect_ratio, " times the short side"));
    request.images = Tensor::from_floats({steps, 3, h, w}, pixels);
  }
  {
    check_shape(*states, kState, {steps, shapes.state_dim}, state_text);
    std::vector<float> values(states->values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      values[i] = static_cast<float>(states->values[i]);
      if (!std::isfinite(values[i]))
        refuse(kState, str_cat(kState, position_text(static_cast<std::int64_t>(i), states->shape), " = ",
                               states->values[i], " is out of float32 range"));
    }
    request.states = Tensor::from_floats({steps, shapes.state_dim}, values);
  }
  // Upstream reads only the chunk's width (the robot's action dims) and expects zeros; values are ignored.
  check_shape(*action, kAction, {shapes.action_rows, shapes.action_dim}, action_text);
  return request;
}

std::string ok_response(const pipeline::DecisionResult& result) {
  json::Array rows;
  for (std::int64_t r = 0; r < result.rows; ++r) {
    json::Array row;
    // float32 widened to double prints as Python prints torch's tolist() values.
    for (std::int64_t d = 0; d < result.action_dim; ++d)
      row.emplace_back(static_cast<double>(result.actions[r * result.action_dim + d]));
    rows.emplace_back(std::move(row));
  }
  return json::dump(json::Value(json::Object{{"result", "ok"}, {"action", std::move(rows)}, {"desc", "success"}}));
}

std::string error_response(const std::string& message, const std::string& field) {
  json::Object body{{"result", "error"}, {"desc", message}};
  if (!field.empty()) body.emplace_back("field", field);
  return json::dump(json::Value(std::move(body)));
}

}  // namespace wma::app::serve
