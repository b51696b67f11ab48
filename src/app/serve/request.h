// The JSON of `POST /predict_action` as upstream's real_eval_server.py takes it and unitree_deploy's
// LongConnectionClient (unitree_deploy/utils/eval_utils.py) sends it: validation into a
// pipeline::DecisionRequest with errors that name the field and carry an HTTP status, and the response
// bodies. No sockets here (docs/server.md has the schema).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "pipeline/decision.h"

namespace wma::app::serve {

// A request the server refuses, with the HTTP status upstream's FastAPI server answers it with: 422 when the
// body is not a JSON object (FastAPI's own validation), 200 when a field is missing, of the wrong type or shape,
// or out of range (upstream catches every error of predict_action and answers result "error"; unitree_deploy's
// client logs `desc` only on a 200). `field` is the request key at fault (empty for the body as a whole).
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, std::string field, const std::string& message)
      : std::runtime_error(message), status_(status), field_(std::move(field)) {}
  int status() const { return status_; }
  const std::string& field() const { return field_; }

 private:
  int status_;
  std::string field_;
};

struct RequestLimits {
  // Observation frames may have any size whose Resize to the model's short side keeps the long side
  // within this many times the model's width (a 1-pixel-high frame would otherwise resize to millions).
  std::int64_t max_aspect_ratio = 8;
};

// Parses and checks a body against the shapes the policy needs; throws RequestError. The body is read in one
// pass, so a number array of the wrong structure is reported before the rest of the body is read.
pipeline::DecisionRequest parse_predict_request(std::string_view body, const pipeline::DecisionShapes& shapes,
                                                const RequestLimits& limits = {});

// {"result": "ok", "action": [[...] x rows], "desc": "success"}, as upstream answers.
std::string ok_response(const pipeline::DecisionResult& result);
// {"result": "error", "desc": message, "field": field}; upstream's error answers carry result and desc.
std::string error_response(const std::string& message, const std::string& field = "");

}  // namespace wma::app::serve
