// predict_action request checks and response bodies.
#include "app/serve/request.h"

#include <algorithm>
#include <cmath>
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
  throw RequestError(422, field, message);
}

enum class Element { Number, Pixel };

// A nested array of numbers whose sizes must equal `shape` (-1: any size, then the same for every sibling),
// read row-major. The position (`field[i][j]`) is formatted only for a message.
class NestedReader {
 public:
  NestedReader(std::string field, std::vector<std::int64_t> shape, Element element)
      : field_(std::move(field)), shape_(std::move(shape)), element_(element) {}

  std::vector<float> read(const json::Value& v) {
    std::vector<float> out;
    visit(v, 0, out);
    return out;
  }
  const std::vector<std::int64_t>& shape() const { return shape_; }

 private:
  [[noreturn]] void refuse_here(const std::string& problem) const {
    std::string path = field_;
    for (std::int64_t i : position_) path += str_cat("[", i, "]");
    refuse(field_, path + problem);
  }

  void visit(const json::Value& v, std::size_t depth, std::vector<float>& out) {
    if (depth == shape_.size()) {
      if (element_ == Element::Pixel) {
        if (!v.is_int() || v.as_int() < 0 || v.as_int() > 255)
          refuse_here(str_cat(" must be an integer 0..255 (RGB8), got ",
                              v.is_number() ? json::dump(v) : std::string(kind_name(v.kind()))));
        out.push_back(static_cast<float>(v.as_int()));
        return;
      }
      if (!v.is_number()) refuse_here(str_cat(" must be a number, got ", kind_name(v.kind())));
      const float x = static_cast<float>(v.as_number());
      if (!std::isfinite(x)) refuse_here(str_cat(" = ", json::dump(v), " is out of float32 range"));
      out.push_back(x);
      return;
    }
    if (!v.is_array()) refuse_here(str_cat(" must be an array, got ", kind_name(v.kind())));
    const json::Array& items = v.as_array();
    const auto n = static_cast<std::int64_t>(items.size());
    if (shape_[depth] < 0) {
      if (n == 0) refuse_here(" is empty");
      shape_[depth] = n;
    } else if (n != shape_[depth]) {
      refuse_here(str_cat(" has ", n, " entries, expected ", shape_[depth]));
    }
    position_.push_back(0);
    for (std::int64_t i = 0; i < n; ++i) {
      position_.back() = i;
      visit(items[i], depth + 1, out);
    }
    position_.pop_back();
  }

  std::string field_;
  std::vector<std::int64_t> shape_;
  Element element_;
  std::vector<std::int64_t> position_;
};

const json::Value& member(const json::Value& body, const std::string& field, const std::string& what) {
  const json::Value* v = body.find(field);
  if (v == nullptr) refuse(field, str_cat("missing field '", field, "' (", what, ")"));
  return *v;
}

}  // namespace

pipeline::DecisionRequest parse_predict_request(std::string_view body, const pipeline::DecisionShapes& shapes,
                                                const RequestLimits& limits) {
  json::Value doc;
  try {
    doc = json::parse(body);
  } catch (const Error& e) {
    throw RequestError(400, "", str_cat("the body is not valid JSON: ", e.what()));
  }
  if (!doc.is_object()) throw RequestError(400, "", str_cat("the body must be a JSON object, got ", kind_name(doc.kind())));

  pipeline::DecisionRequest request;
  const json::Value& text = member(doc, "language_instruction", "a string");
  if (!text.is_string()) refuse("language_instruction", str_cat("language_instruction must be a string, got ", kind_name(text.kind())));
  request.instruction = text.as_string();

  const std::int64_t steps = shapes.observation_steps;
  {
    const std::string field = "observation.images.top";
    NestedReader reader(field, {steps, 3, -1, -1}, Element::Pixel);
    const std::vector<float> pixels = reader.read(member(doc, field, str_cat("[", steps, "][3][H][W] RGB8 values")));
    const std::int64_t h = reader.shape()[2], w = reader.shape()[3];
    if (std::max(h, w) > limits.max_aspect_ratio * std::min(h, w))
      refuse(field, str_cat(field, " frames are ", h, "x", w, "; the long side may be at most ", limits.max_aspect_ratio,
                            " times the short side"));
    request.images = Tensor::from_floats({steps, 3, h, w}, pixels);
  }
  {
    const std::string field = "observation.state";
    NestedReader reader(field, {steps, shapes.state_dim}, Element::Number);
    request.states = Tensor::from_floats(
        {steps, shapes.state_dim}, reader.read(member(doc, field, str_cat("[", steps, "][", shapes.state_dim, "] numbers"))));
  }
  {
    // Upstream reads only the chunk's width (the robot's action dims) and expects zeros; values are ignored.
    const std::string field = "action";
    NestedReader reader(field, {shapes.action_rows, shapes.action_dim}, Element::Number);
    reader.read(member(doc, field, str_cat("[", shapes.action_rows, "][", shapes.action_dim, "] numbers")));
  }
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
