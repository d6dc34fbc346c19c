import { join, sep } from 'node:path';
import { FerryError } from '../../errors/index.js';
import type { FolderLayout } from './layout.js';

/**
 * Turns a file system error on the target side into what it is — a full disk, a folder Ferry may
 * not write — instead of letting it pass for damage in the archive being read. Errors that did not
 * come from a file system call on the target, its kept copies or Ferry's work folders beside it
 * (the archive's own stream failing, say) pass unchanged.
 */
export function targetError(cause: unknown, layout: FolderLayout): unknown {
  if (cause instanceof FerryError) return cause;
  const error = cause as NodeJS.ErrnoException | undefined;
  if (error?.syscall === undefined || typeof error.path !== 'string' || !onTargetSide(error.path, layout)) return cause;
  const path = error.path;
  const target = layout.target;
  if (error.code === 'ENOSPC' || error.code === 'EDQUOT' || error.code === 'EFBIG') {
    return new FerryError('DISK_FULL', `no space left while restoring uploads into ${target} (writing ${path})`, {
      hint: 'Free space on the filesystem of the uploads folder (the restored files that differ are written beside the current ones until the swap), then restore again; the uploads folder was left as it was.',
      cause,
    });
  }
  const reason = error.code === 'EACCES' || error.code === 'EPERM' ? 'permission denied'
    : error.code === 'EROFS' ? 'read-only filesystem'
    : error.message;
  return new FerryError('UPLOADS_TARGET_UNWRITABLE', `cannot restore uploads into ${target}: ${reason} (${error.syscall} ${path})`, {
    hint: 'Run ferry as a user that can write the uploads folder and the folder that contains it (the new folder is built beside it), or set UPLOADS_DIR to a folder it can write; the uploads folder was left as it was.',
    cause,
  });
}

function onTargetSide(path: string, layout: FolderLayout): boolean {
  const within = (folder: string) => path === folder || path.startsWith(folder + sep);
  return path === layout.workParent || path.startsWith(join(layout.workParent, layout.workPrefix))
    || within(layout.target) || within(layout.previous) || within(layout.pristine);
}
