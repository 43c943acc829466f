#!/bin/sh
# Builds the static cubby binary that deploy/Dockerfile ships, from the
# module root: pure Go (modernc.org/sqlite needs no cgo), no local paths in
# it, no debug symbols. .ci/run runs this same script where there is no
# Docker, so the image's build line is tested either way.
set -eu
out=${1:?usage: deploy/build.sh OUTPUT}
CGO_ENABLED=0 exec go build -trimpath -ldflags='-s -w' -o "$out" .
