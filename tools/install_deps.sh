#!/usr/bin/env bash
# Installs what building and testing wma needs on Debian 12 / Ubuntu (run as root or with sudo).
# The CUDA toolkit is optional: when nvcc is present the CUDA backend is compiled too.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends cmake ninja-build g++ make libgtest-dev \
  libhdf5-dev libavformat-dev libavcodec-dev libavutil-dev libswscale-dev pkg-config ffmpeg \
  libcpp-httplib-dev python3 >/dev/null
