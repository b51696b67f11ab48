// tests/CMakeLists.txt builds each tests/<folder> from that folder's own sources, so the shared
// model-test helpers are compiled into this binary from here.
#include "../models/model_test_util.cpp"
