#!/usr/bin/env bash
# Check that files/docker-stacks-patches/*.patch apply cleanly, in name order, to the pinned
# upstream docker-stacks commit (docker_stacks_ref in group_data/all.py). Needs network access
# to GitHub, which the test bed lacks, so it is a separate check: run it after changing the pin
# or a patch. The deploy runs the same `git apply --check` on each host before any build.
set -euo pipefail
cd "$(dirname "$0")/.."
ref=$(sed -n 's/^docker_stacks_ref = "\([0-9a-f]\{40\}\)"$/\1/p' group_data/all.py)
repo=$(sed -n 's/^docker_stacks_repo = "\(.*\)"$/\1/p' group_data/all.py)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$work" init -q
git -C "$work" fetch -q --depth 1 "$repo" "$ref"
git -C "$work" checkout -q FETCH_HEAD
for patch in files/docker-stacks-patches/*.patch; do
  git -C "$work" apply --check "$PWD/$patch" && git -C "$work" apply "$PWD/$patch"
  echo "ok: $(basename "$patch") applies to docker-stacks at $ref"
done
