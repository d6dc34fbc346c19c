import { describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors/index.js';
import type { FolderLayout } from '../../src/stores/files/layout.js';
import { targetError } from '../../src/stores/files/target-error.js';

const layout: FolderLayout = { target: '/srv/uploads', mountPoint: false, previous: '/srv/uploads.ferry-prev', pristine: '/srv/uploads.ferry-pristine', workParent: '/srv', workPrefix: '.uploads.ferry-' };

function errno(code: string, syscall: string | undefined, path: string | undefined): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall ?? ''}`), { code, syscall, path });
}

describe('uploads target errors', () => {
  it('names a full disk and a forbidden folder under the target area as what they are', () => {
    const full = targetError(errno('ENOSPC', 'write', '/srv/.uploads.ferry-restore-1-ab/x.jpg'), layout);
    expect(full).toBeInstanceOf(FerryError);
    expect((full as FerryError).code).toBe('DISK_FULL');
    const denied = targetError(errno('EACCES', 'mkdir', '/srv/.uploads.ferry-restore-1-ab'), layout);
    expect((denied as FerryError).code).toBe('UPLOADS_TARGET_UNWRITABLE');
    expect((denied as FerryError).message).toBe('cannot restore uploads into /srv/uploads: permission denied (mkdir /srv/.uploads.ferry-restore-1-ab)');
  });

  it('leaves errors of the archive stream and of other places to the archive reader', () => {
    const inflate = Object.assign(new Error('unexpected end of file'), { code: 'Z_BUF_ERROR', errno: -5 });
    expect(targetError(inflate, layout)).toBe(inflate);
    // Even when the backups sit beside the uploads folder.
    const archiveRead = errno('EIO', 'read', '/srv/backups/backup_1.tar.gz');
    expect(targetError(archiveRead, layout)).toBe(archiveRead);
    const sibling = errno('EACCES', 'open', '/srv/uploads2/x');
    expect(targetError(sibling, layout)).toBe(sibling);
    const ferry = new FerryError('ARCHIVE_CORRUPT', 'x');
    expect(targetError(ferry, layout)).toBe(ferry);
  });
});
