import type { IdentityReader } from '../store.js';
import { opaqueSource } from '../store.js';

/** `folderFingerprint`'s "uploads host <host> device <dev> inode <ino>". */
const FINGERPRINT = /^uploads host (\S+) device (\d+) inode (\d+)$/;

export const filesIdentity: IdentityReader = {
  source(text) {
    return text.startsWith('uploads ') ? { ...opaqueSource(text), path: text.slice('uploads '.length) } : opaqueSource(text);
  },
  fingerprint(text) {
    const m = FINGERPRINT.exec(text);
    if (m === null) return { value: text, by: 'unknown' };
    return { value: text, by: 'inode', host: m[1] ?? '', device: Number(m[2]), inode: Number(m[3]) };
  },
};
