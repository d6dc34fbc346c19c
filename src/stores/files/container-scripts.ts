/**
 * The shell scripts uploads.exec runs inside the container (POSIX sh, GNU or busybox tools); the
 * files themselves cross with `docker cp`, so the container needs no tar. Paths are always
 * positional parameters, never spliced into a script.
 */

/** $1 folder → "<device> <inode> <files> <folders> <symlinks> <uid>:<gid>", or "missing"; Ferry's own .ferry-* entries not counted. */
export const COUNT_SCRIPT = [
  '[ -d "$1" ] || { echo missing; exit 0; }',
  'c() { find "$1" -mindepth 1 -path "$1/.ferry-*" -prune -o -type "$2" -print0 | tr -dc \'\\000\' | wc -c; }',
  'echo "$(stat -c \'%d %i\' -- "$1") $(c "$1" f) $(c "$1" d) $(c "$1" l) $(stat -c \'%u:%g\' -- "$1")"',
].join('\n');

/**
 * $1 folder, $2 staging folder inside it: creates both (`docker cp -` needs its destination to
 * exist) and prints the folder's owner "<uid>:<gid>".
 */
export const PREPARE_SCRIPT = [
  'set -e',
  'mkdir -p -- "$1"',
  'mkdir -m 700 -- "$2"',
  'stat -c \'%u:%g\' -- "$1"',
].join('\n');

/**
 * $1 folder, $2 staging folder: run as root, gives the staged files the folder's owner (the
 * application's user), as files written by the application would have. docker cp writes the
 * owner the tar entries name, which Ferry sets to the same; docker's documentation says files
 * copied in belong to root, so this settles it whichever holds.
 */
export const OWN_SCRIPT = 'if [ "$(id -u)" = 0 ]; then chown -R "$(stat -c \'%u:%g\' -- "$1")" -- "$2"; fi';

/** $1 a folder, $2 a new name: a copy made of hard links (seconds, no space) — the pristine copy kept for ferry reset. */
export const LINK_COPY_SCRIPT = 'cp -a -l -- "$1" "$2"';

/** $1 a folder, $2 its new name, replacing whatever has that name. */
export const REPLACE_SCRIPT = 'rm -rf -- "$2" && mv -- "$1" "$2"';

/**
 * $1 folder, $2 incoming folder (inside it), $3 a fresh work folder, $4 where the replaced entries
 * are kept: moves the folder's entries (not .ferry-*) into $3, the incoming ones into the folder,
 * then keeps $3 as $4 when it holds anything. Renames within one filesystem; a failure puts everything back and exits 1.
 */
export const SWAP_SCRIPT = [
  'set -u',
  't=$1 in=$2 out=$3 keep=$4',
  'move() {',
  '  for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do',
  '    [ -e "$e" ] || [ -L "$e" ] || continue',
  '    case ${e##*/} in .ferry-*) continue ;; esac',
  '    mv -- "$e" "$2/" || return 1',
  '  done',
  '}',
  'mkdir -m 700 -- "$out" || exit 1',
  'if ! move "$t" "$out"; then move "$out" "$t"; rmdir -- "$out"; exit 1; fi',
  'if ! move "$in" "$t"; then move "$t" "$in"; move "$out" "$t"; rmdir -- "$out"; exit 1; fi',
  'rmdir -- "$in"',
  'rmdir -- "$out" 2>/dev/null || { rm -rf -- "$keep" && mv -- "$out" "$keep"; }',
].join('\n');

/** $@ folders to remove (Ferry's own work folders and kept copies). */
export const REMOVE_SCRIPT = 'rm -rf -- "$@"';

/** $1 folder → the names of Ferry's own entries at its top (.ferry-*), one per line. */
export const LIST_SCRIPT = 'for e in "$1"/.ferry-*; do [ -e "$e" ] && printf \'%s\\n\' "${e##*/}"; done; exit 0';

/** $1 → exit 0 when it exists. */
export const EXISTS_SCRIPT = '[ -e "$1" ]';
