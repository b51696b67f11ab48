// tests/models/model_test_util.cpp compiled into this binary too (as tests/cuda_models does).
#include "../models/model_test_util.cpp"
