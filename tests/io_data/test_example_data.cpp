// Reading upstream's example data as it is laid out (an upstream checkout's examples/, tests/util/test_data.h).
#include <gtest/gtest.h>

#include <string>

#include "io/csv.h"
#include "io/h5.h"
#include "util/test_data.h"

namespace wma::io {
namespace {

std::string examples() { return test_data::interaction_prompts().string() + "/"; }

#define REQUIRE_EXAMPLES()                                                           \
  WMA_REQUIRE_UPSTREAM(test_data::interaction_prompts() / "unitree_z1_stackbox.csv", \
                       "examples/world_model_interaction_prompts")

TEST(ExampleData, CsvPromptListHasUpstreamColumns) {
  REQUIRE_EXAMPLES();
  CsvTable t = CsvTable::read(examples() + "unitree_z1_stackbox.csv");
  ASSERT_EQ(t.rows(), 1u);
  EXPECT_EQ(t.at(0, "fps"), "30");
  EXPECT_EQ(t.at(0, "instruction"),
            "Stack the blocks in the rectangular block: red at the bottom, yellow in the middle, green on top.");
  EXPECT_THROW(t.at(0, "no_such_column"), Error);
}

TEST(ExampleData, CsvQuotingAndRaggedRows) {
  CsvTable t = CsvTable::parse("a,b\n\"x, \"\"y\"\"\",2\r\n", "inline");
  EXPECT_EQ(t.at(0, "a"), "x, \"y\"");
  EXPECT_THROW(CsvTable::parse("a,b\n1\n", "ragged.csv"), Error);
  EXPECT_THROW(CsvTable::parse("a\n\"open\n", "open.csv"), Error);
}

// Through libhdf5 or, in a build without it, the built-in reader (io/h5_builtin.h).
TEST(ExampleData, TransitionsH5) {
  EXPECT_THROW(read_h5_dataset("x.h5", "action"), Error);
  REQUIRE_EXAMPLES();
  const std::string path = examples() + "transitions/unitree_z1_stackbox/0.h5";
  Tensor action = read_h5_dataset(path, "action");
  EXPECT_EQ(action.shape(), (Shape{736, 7}));
  EXPECT_FLOAT_EQ(action.to_floats()[1], 1.4776837f);
  EXPECT_EQ(read_h5_dataset(path, "observation.state").shape(), (Shape{736, 7}));
  EXPECT_EQ(read_h5_string_attribute(path, "robot_type"), "Unitree Z1 Robot Arm");
  try {
    read_h5_dataset(path, "observation.images");
    FAIL() << "missing dataset accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no dataset 'observation.images'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_h5_dataset(examples() + "unitree_z1_stackbox.csv", "action"), Error);
}

}  // namespace
}  // namespace wma::io
