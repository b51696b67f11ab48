#!/usr/bin/env bash
# Installs what building and testing wma needs on Debian 12 / Ubuntu (run as root or with sudo).
# The CUDA toolkit is optional: when nvcc is present the CUDA backend is compiled too. clang-14 and
# libclang-rt-14-dev (its sanitizer and libFuzzer runtimes, only recommended by clang-14) build fuzz/;
# clang-format (14 on Debian 12) checks the formatting in CI (tools/check_format.sh).
# libjpeg-dev is libjpeg-turbo on both (Debian 12: libjpeg62-turbo-dev, Ubuntu: libjpeg-turbo8-dev).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends cmake ninja-build g++ make libgtest-dev \
  libhdf5-dev libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libpng-dev libjpeg-dev \
  pkg-config ffmpeg libcpp-httplib-dev python3 clang-14 libclang-rt-14-dev clang-format >/dev/null
