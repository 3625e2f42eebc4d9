#!/usr/bin/env bash
# The burn-onnx round trip: the trainer exports generators as fp32 ONNX (with its own forward pass
# on fixed latents), then tests/burn-roundtrip — its own Cargo workspace, because burn-onnx and the
# exporter's onnx-protobuf need different protobuf versions — turns each ONNX file into Burn code at
# build time and checks it reproduces the trainer within 1e-4.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
fixtures="$CARGO_TARGET_DIR/burn-roundtrip-fixtures"
tinygan_build  # the fixtures example, from the one shared build
"$CARGO_TARGET_DIR/release/examples/burn_roundtrip_fixtures" "$fixtures"
TINYGAN_ROUNDTRIP_FIXTURES="$fixtures" \
  cargo test --manifest-path tests/burn-roundtrip/Cargo.toml -- --nocapture
