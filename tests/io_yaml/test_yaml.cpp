// io/yaml: the OmegaConf subset upstream's inference configs use, on the three real configs
// and on small documents for the constructs they exercise.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/yaml.h"
#include "util/test_data.h"

namespace wma::io {
namespace {

std::string config_path(const std::string& name) { return (test_data::upstream_configs() / name).string(); }

TEST(Yaml, ScalarsAreTypedLikePyYamlAndOmegaConf) {
  const YamlNode y = parse_yaml(R"(
a: 1
b: -3
c: 0.5
d: 1.0e-4
e: 1e-8          # OmegaConf reads this as a float too
f: true
g: False
h: null
i: ~
j:
k: "quoted # not a comment"
l: 'it''s'
m: plain words here
n: .inf
o: "1"
p: 0x1F
q: yes
)");
  EXPECT_EQ(y["a"].as_int(), 1);
  EXPECT_EQ(y["b"].as_int(), -3);
  EXPECT_DOUBLE_EQ(y["c"].as_double(), 0.5);
  EXPECT_DOUBLE_EQ(y["d"].as_double(), 1.0e-4);
  EXPECT_EQ(y["e"].kind(), YamlNode::Kind::Float);
  EXPECT_DOUBLE_EQ(y["e"].as_double(), 1e-8);
  EXPECT_TRUE(y["f"].as_bool());
  EXPECT_FALSE(y["g"].as_bool());
  EXPECT_TRUE(y["h"].is_null());
  EXPECT_TRUE(y["i"].is_null());
  EXPECT_TRUE(y["j"].is_null());
  EXPECT_EQ(y["k"].as_string(), "quoted # not a comment");
  EXPECT_EQ(y["l"].as_string(), "it's");
  EXPECT_EQ(y["m"].as_string(), "plain words here");
  EXPECT_TRUE(std::isinf(y["n"].as_double()));
  EXPECT_EQ(y["o"].kind(), YamlNode::Kind::String);
  EXPECT_THROW(y["o"].as_int(), Error);
  EXPECT_EQ(y["p"].as_int(), 31);
  EXPECT_TRUE(y["q"].as_bool());
  EXPECT_THROW(y["missing"], Error);
}

TEST(Yaml, BlockAndFlowCollections) {
  const YamlNode y = parse_yaml(R"(
top:
  list:
  - 4
  - 2
  indented:
    - x
    - [1, [2, 3], []]
  flow: [256, 512, 'a, b', "c"]
  map: {k: 1, v: two}
  empty: []
  items:
    - name: first
      size: 1
    - name: second
      nested:
        deep: true
    -
      - inner
)");
  const YamlNode& top = y["top"];
  EXPECT_EQ(top["list"].as_int_list(), (std::vector<std::int64_t>{4, 2}));
  EXPECT_EQ(top["indented"][0].as_string(), "x");
  EXPECT_EQ(top["indented"][1][1].as_int_list(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(top["indented"][1][2].size(), 0u);
  EXPECT_EQ(top["flow"].size(), 4u);
  EXPECT_EQ(top["flow"][2].as_string(), "a, b");
  EXPECT_EQ(top["map"]["v"].as_string(), "two");
  EXPECT_TRUE(top["empty"].is_sequence());
  EXPECT_EQ(top["items"][0]["name"].as_string(), "first");
  EXPECT_EQ(top["items"][0]["size"].as_int(), 1);
  EXPECT_TRUE(top["items"][1]["nested"]["deep"].as_bool());
  EXPECT_EQ(top["items"][2][0].as_string(), "inner");
  EXPECT_EQ(y.at_path("top.items[1].nested.deep").path(), "top.items[1].nested.deep");
  EXPECT_EQ(y.at_path("top.list.1").as_int(), 2);
}

TEST(Yaml, InterpolationsResolveAfterParsing) {
  const YamlNode y = parse_yaml(R"(
a:
  b: 7
  size: [40, 64]
  rel: ${.b}
  up: ${..c}
c: ${a.b}
d: ${a.size}
e: "n=${a.b}/${c}"
f: ${nowhere.key}
g: ${g2}
g2: ${g}
h: \${a.b}
)");
  EXPECT_EQ(y["c"].as_int(), 7);
  EXPECT_EQ(y["a"]["rel"].as_int(), 7);
  EXPECT_EQ(y["a"]["up"].as_int(), 7);
  EXPECT_EQ(y["d"].as_int_list(), (std::vector<std::int64_t>{40, 64}));
  EXPECT_EQ(y["d"][1].path(), "d[1]");
  EXPECT_EQ(y["e"].as_string(), "n=7/7");
  EXPECT_THROW(y["f"].as_int(), Error);  // only reading it fails, like OmegaConf
  EXPECT_THROW(y["g"].as_int(), Error);
  EXPECT_EQ(y["h"].as_string(), "${a.b}");
}

TEST(Yaml, ErrorsNameTheLine) {
  try {
    parse_yaml("a: 1\n  b: 2\n", "doc.yaml");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("doc.yaml:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_yaml("a: [1, 2\n"), Error);
  EXPECT_THROW(parse_yaml("a: |\n  text\n"), Error);
  EXPECT_THROW(parse_yaml("a: 1\na: 2\n"), Error);
}

std::string yaml_error(const std::string& text) {
  try {
    parse_yaml(text, "doc.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Yaml, DeepNestingIsRefusedNamingTheLine) {
  const std::size_t deep = 100000;  // enough to overflow the stack of an unbounded recursive descent
  std::string msg = yaml_error("a: 1\nb: " + std::string(deep, '[') + std::string(deep, ']') + "\n");
  EXPECT_NE(msg.find("doc.yaml:2: collections nested deeper than 256 levels"), std::string::npos) << msg;
  std::string maps;
  for (std::size_t k = 0; k < deep; ++k) maps += "{a: ";
  msg = yaml_error("a: " + maps + "\n");
  EXPECT_NE(msg.find("doc.yaml:1: collections nested deeper than 256"), std::string::npos) << msg;
  std::string items;
  for (std::size_t k = 0; k < deep; ++k) items += "- ";
  msg = yaml_error(items + "x\n");
  EXPECT_NE(msg.find("doc.yaml:1: collections nested deeper than 256"), std::string::npos) << msg;
  std::string blocks;
  for (int k = 0; k < 300; ++k) blocks += std::string(2 * k, ' ') + "k:\n";
  msg = yaml_error(blocks);
  EXPECT_NE(msg.find("doc.yaml:257: collections nested deeper than 256"), std::string::npos) << msg;
  // Upstream-like depths still parse.
  EXPECT_EQ(parse_yaml("a: " + std::string(200, '[') + "7" + std::string(200, ']') + "\n")["a"].size(), 1u);
}

TEST(Yaml, LongScalarsAreTypedWithoutRecursion) {
  const std::string digits(200000, '7');
  const YamlNode y = parse_yaml("a: " + digits + "\nb: [" + digits + "]\nc: " + digits + ".5\n", "doc.yaml");
  EXPECT_EQ(y["a"].kind(), YamlNode::Kind::Int);
  EXPECT_EQ(y["b"][0].as_string(), digits);
  EXPECT_THROW(y["a"].as_int(), Error);
  EXPECT_EQ(y["c"].kind(), YamlNode::Kind::Float);
}

// The typing rules as PyYAML writes them (its implicit resolvers, with OmegaConf's float rule), the oracle
// for the reader's hand-written matchers: every string of up to four characters over an alphabet that
// reaches each branch, and random longer ones.
TEST(Yaml, ScalarTypingMatchesTheResolverRegexes) {
  const std::regex bool_re("yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF");
  const std::regex int_re("[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+");
  const std::regex float_re("[-+]?([0-9][0-9_]*)\\.[0-9_]*([eE][-+]?[0-9]+)?|[-+]?([0-9][0-9_]*)([eE][-+]?[0-9]+)|"
                            "\\.[0-9_]+([eE][-+][0-9]+)?|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)");
  auto expected = [&](const std::string& t) {
    if (t.empty() || t == "~" || t == "null") return YamlNode::Kind::Null;
    if (std::regex_match(t, bool_re)) return YamlNode::Kind::Bool;
    if (std::regex_match(t, int_re)) return YamlNode::Kind::Int;
    if (std::regex_match(t, float_re)) return YamlNode::Kind::Float;
    return YamlNode::Kind::String;
  };
  auto typed = [](const std::string& t) { return parse_yaml("a: " + t + "\n", "t.yaml")["a"].kind(); };
  const std::string alphabet = "0178_+-.eEbxaFin";
  std::vector<std::string> texts = {".inf", "-.Inf",   "+.INF", ".nan", ".NaN", "-.nan", ".5e+3",
                                    ".5e3", "1_0.e-7", "0x_F",  "0b",   "0b2",  "07",    "08",
                                    "0_",   "yes",     "Off",   "oN",   "1e",   "1e+",   "1.e"};
  std::string t;
  std::function<void(int)> all_up_to = [&](int left) {
    texts.push_back(t);
    if (left == 0) return;
    for (char c : alphabet) {
      t.push_back(c);
      all_up_to(left - 1);
      t.pop_back();
    }
  };
  all_up_to(4);
  std::mt19937 rng(7);
  for (int k = 0; k < 20000; ++k) {
    std::string r(5 + rng() % 8, ' ');
    for (char& c : r) c = alphabet[rng() % alphabet.size()];
    texts.push_back(r);
  }
  int mismatches = 0;
  for (const std::string& text : texts) {
    const YamlNode::Kind got = typed(text);
    if (got != expected(text) && ++mismatches <= 10) ADD_FAILURE() << "'" << text << "'";
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(Yaml, LongInterpolationChainIsRefused) {
  const int n = 20000;
  std::string text;
  for (int k = 0; k < n; ++k) text += "a" + std::to_string(k) + ": ${a" + std::to_string(k + 1) + "}\n";
  text += "a" + std::to_string(n) + ": 1\n";
  const std::string msg = yaml_error(text);
  EXPECT_NE(msg.find("[yaml] doc.yaml: a"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nested deeper than 256 levels, counting ${} interpolation hops"), std::string::npos) << msg;
  // A short chain resolves.
  EXPECT_EQ(parse_yaml("a: ${b}\nb: ${c}\nc: ${d}\nd: 5\n")["a"].as_int(), 5);
}

TEST(Yaml, ExponentialInterpolationsAreRefused) {
  // Each level copies the one below eight times: 8^12 leaves, terabytes if expanded.
  std::string text = "l0: [x, x, x, x, x, x, x, x]\n";
  for (int k = 1; k <= 12; ++k) {
    const std::string ref = "${l" + std::to_string(k - 1) + "}";
    text += "l" + std::to_string(k) + ": [" + ref;
    for (int j = 1; j < 8; ++j) text += ", " + ref;
    text += "]\n";
  }
  std::string msg = yaml_error(text);
  EXPECT_NE(msg.find("[yaml] doc.yaml: l"), std::string::npos) << msg;
  EXPECT_NE(msg.find("interpolations expand to more than 64 MiB"), std::string::npos) << msg;
  // The same with strings: s0 doubles 40 times.
  text = "s0: abcdefgh\n";
  for (int k = 1; k <= 40; ++k)
    text += "s" + std::to_string(k) + ": ${s" + std::to_string(k - 1) + "}${s" + std::to_string(k - 1) + "}\n";
  msg = yaml_error(text);
  EXPECT_NE(msg.find("interpolations expand to more than 64 MiB"), std::string::npos) << msg;
  // Each reference walks its target: 6000 references to a 6000-element list.
  text = "big: [0";
  for (int k = 1; k < 6000; ++k) text += ",0";
  text += "]\n";
  for (int k = 0; k < 6000; ++k) text += "r" + std::to_string(k) + ": x${big}\n";
  msg = yaml_error(text);
  EXPECT_NE(msg.find("node visits"), std::string::npos) << msg;
}

// Found by fuzz/fuzz_yaml: each of these threw std::invalid_argument or std::out_of_range out of the reader.
TEST(Yaml, MalformedNumbersAndEscapesAreErrors) {
  EXPECT_THROW(parse_yaml("a: \"\\u12g4\"\n"), Error);
  EXPECT_THROW(parse_yaml("a: \"\\x-1\"\n"), Error);
  EXPECT_THROW(parse_yaml("a: \"\\U00110000\"\n"), Error);
  EXPECT_EQ(parse_yaml("a: \"\\u00e9\\x41\"\n")["a"].as_string(), "\xc3\xa9"
                                                                  "A");
  const YamlNode y =
      parse_yaml("big: 99999999999999999999\nmin: -9223372036854775808\nmax: 9223372036854775807\nhex: 0x_\nbin: 0b_\n"
                 "inf: 1e999\ntiny: 1e-320\nlist: [1, 2]\n"
                 "dot: ${list.99999999999999999999}\nbracket: ${list[99999999999999999999]}\n");
  EXPECT_THROW(y["big"].as_int(), Error);
  EXPECT_THROW(y["hex"].as_int(), Error);
  EXPECT_THROW(y["bin"].as_int(), Error);
  EXPECT_EQ(y["min"].as_int(), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(y["max"].as_int(), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(y["inf"].as_double(), std::numeric_limits<double>::infinity());  // Python's float('1e999')
  EXPECT_GT(y["tiny"].as_double(), 0.0);
  EXPECT_THROW(y["dot"].as_int(), Error);  // unresolvable, like any missing key
  EXPECT_THROW(y["bracket"].as_int(), Error);
  EXPECT_THROW(y.find_path("list[x]"), Error);
  EXPECT_EQ(y.find_path("list[99999999999999999999]"), nullptr);
}

TEST(Yaml, WorldModelInteractionConfig) {
  WMA_REQUIRE_UPSTREAM(test_data::upstream_configs(), "configs/inference");
  const YamlNode y = load_yaml(config_path("world_model_interaction.yaml"));
  const YamlNode& p = y.at_path("model.params");
  EXPECT_EQ(y.at_path("model.target").as_string(), "unifolm_wma.models.ddpms.LatentVisualDiffusion");
  EXPECT_TRUE(p["rescale_betas_zero_snr"].as_bool());
  EXPECT_EQ(p["parameterization"].as_string(), "v");
  EXPECT_DOUBLE_EQ(p["linear_start"].as_double(), 0.00085);
  EXPECT_EQ(p["timesteps"].as_int(), 1000);
  EXPECT_EQ(p["image_size"].as_int_list(), (std::vector<std::int64_t>{40, 64}));
  EXPECT_FALSE(p["decision_making_only"].as_bool());
  EXPECT_DOUBLE_EQ(p.at_path("dp_optimizer_config.params.eps").as_double(), 1.0e-8);
  EXPECT_EQ(p.at_path("dp_optimizer_config.params.betas").as_double_list(), (std::vector<double>{0.95, 0.999}));
  const YamlNode& wma = p.at_path("wma_config.params");
  EXPECT_EQ(wma["attention_resolutions"].as_int_list(), (std::vector<std::int64_t>{4, 2, 1}));
  EXPECT_EQ(wma["channel_mult"].as_int_list(), (std::vector<std::int64_t>{1, 2, 4, 4}));
  EXPECT_EQ(wma["n_obs_steps"].as_int(), 2);
  const YamlNode& head = wma.at_path("unet_head_config.params");
  EXPECT_EQ(head["input_dim"].as_int(), 16);
  EXPECT_EQ(head["horizon"].as_int(), 16);
  EXPECT_EQ(head["num_head_channels"].as_int(), 64);
  EXPECT_TRUE(head["use_linear_attn"].as_bool());
  EXPECT_EQ(head["image_size"].as_int_list(), (std::vector<std::int64_t>{40, 64}));
  EXPECT_EQ(head["down_dims"].as_int_list(), (std::vector<std::int64_t>{256, 512, 1024, 2048}));
  EXPECT_EQ(head["context_dims"].size(), 0u);
  EXPECT_TRUE(head.at_path("obs_encoder_config.params.rgb_model_config.params.weights").is_null());
  EXPECT_EQ(head.at_path("obs_encoder_config.params.spatial_softmax_kp").as_int(), 128);
  EXPECT_EQ(p.at_path("cond_stage_config.params.layer").as_string(), "penultimate");
  EXPECT_EQ(p.at_path("image_proj_stage_config.params.video_length").as_int(), 16);
  EXPECT_EQ(y.at_path("data.params.test.params.data_dir").as_string(),
            "/path/to/unifolm-world-model-action/examples/world_model_interaction_prompts");
  EXPECT_EQ(y.at_path("data.params.test.params.max_state_dim").as_int(), 16);
  EXPECT_DOUBLE_EQ(y.at_path("data.params.dataset_and_weights.unitree_g1_pack_camera").as_double(), 0.2);
  // Upstream's normalization_config points at a key that does not exist; OmegaConf only fails on access.
  EXPECT_THROW(y.at_path("model.normalization_config.input_shapes")["observation.state"].as_int(), Error);
  EXPECT_EQ(y.at_path("model.normalization_config.input_normalization_modes")["observation.state"].as_string(),
            "min_max");
}

TEST(Yaml, DecisionMakingAndBaseModelConfigs) {
  WMA_REQUIRE_UPSTREAM(test_data::upstream_configs(), "configs/inference");
  const YamlNode d = load_yaml(config_path("world_model_decision_making.yaml"));
  EXPECT_TRUE(d.at_path("model.params.decision_making_only").as_bool());
  EXPECT_EQ(
      d.at_path("data.params.test.params.data_dir").as_string(),
      "/path/to/the/dataset/directory/that/contains/the/meta/folder/of/the/testing/case/under/a/transitions/folder");
  EXPECT_EQ(d.at_path("data.params.dataset_and_weights").size(), 1u);

  const YamlNode b = load_yaml(config_path("base_model_inference.yaml"));
  EXPECT_EQ(b.at_path("model.params.n_obs_steps_imagen").as_int(), 1);
  EXPECT_EQ(b.at_path("model.params.wma_config.params.n_obs_steps").as_int(), 1);
  EXPECT_EQ(b.at_path("model.params.wma_config.params.unet_head_config.params.n_obs_steps").as_int(), 1);
  EXPECT_DOUBLE_EQ(b.at_path("model.params.input_pertub").as_double(), 0.1);
  EXPECT_TRUE(b.at_path("model.params.wma_config.params.base_model_gen_only").as_bool());
  EXPECT_EQ(b.find("data"), nullptr);
}

TEST(Yaml, FixtureConfigWithOpenClipArchitectures) {
  const char* src = std::getenv("WMA_SOURCE_DIR");
  const YamlNode y = load_yaml(std::string(src != nullptr ? src : ".") + "/tests/fixtures/configs/tiny.yaml");
  const YamlNode& head = y.at_path("model.params.wma_config.params.unet_head_config.params");
  EXPECT_EQ(head["image_size"].as_int_list(), y.at_path("model.params.image_size").as_int_list());
  const std::string arch = y.at_path("model.params.cond_stage_config.params.arch").as_string();
  EXPECT_GT(y.at_path("open_clip_model_configs")[arch].at_path("text_cfg.layers").as_int(), 1);
}

}  // namespace
}  // namespace wma::io
