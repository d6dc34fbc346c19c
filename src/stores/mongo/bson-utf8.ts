import { isUtf8 } from 'node:buffer';

/** Bytes taken by each fixed-size BSON element type after its name. */
const FIXED: Record<number, number> = { 0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0a: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16, 0xff: 0, 0x7f: 0 };

/**
 * Field names and regular expressions (pattern and flags) that are not valid UTF-8, which js-bson
 * accepts while validating string values only. Reads a document js-bson has already parsed, so its
 * structure is sound; returns the first problem found, or undefined.
 */
export function invalidUtf8(bytes: Uint8Array): string | undefined {
  return walk(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, '');
}

function walk(bytes: Buffer, start: number, path: string): string | undefined {
  const end = start + bytes.readInt32LE(start) - 1;
  let p = start + 4;
  while (p < end) {
    const type = bytes[p++] as number;
    const nameEnd = bytes.indexOf(0, p);
    if (nameEnd < 0) return undefined;
    if (!isUtf8(bytes.subarray(p, nameEnd))) return `a field name${path === '' ? '' : ` inside ${path}`} is not valid UTF-8 (byte ${p - start} of the document)`;
    const name = bytes.toString('utf8', p, nameEnd);
    const here = path === '' ? name : `${path}.${name}`;
    p = nameEnd + 1;
    const fixed = FIXED[type];
    if (fixed !== undefined) {
      p += fixed;
    } else if (type === 0x02 || type === 0x0d || type === 0x0e) {
      p += 4 + bytes.readInt32LE(p);
    } else if (type === 0x0c) {
      p += 4 + bytes.readInt32LE(p) + 12;
    } else if (type === 0x05) {
      p += 4 + 1 + bytes.readInt32LE(p);
    } else if (type === 0x03 || type === 0x04) {
      const problem = walk(bytes, p, here);
      if (problem !== undefined) return problem;
      p += bytes.readInt32LE(p);
    } else if (type === 0x0f) {
      const scope = p + 4 + 4 + bytes.readInt32LE(p + 4);
      const problem = walk(bytes, scope, here);
      if (problem !== undefined) return problem;
      p += bytes.readInt32LE(p);
    } else if (type === 0x0b) {
      for (const part of ['pattern', 'flags']) {
        const partEnd = bytes.indexOf(0, p);
        if (!isUtf8(bytes.subarray(p, partEnd))) return `the regular expression ${part} of ${here} is not valid UTF-8`;
        p = partEnd + 1;
      }
    } else {
      return undefined;
    }
  }
  return undefined;
}
