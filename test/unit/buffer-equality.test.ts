import { describe, expect, it } from 'vitest';

describe('the suite compares Buffers as bytes (test/support/buffer-equality.ts)', () => {
  it('still tells different bytes, lengths and types apart', () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    expect(Buffer.from(big)).toEqual(big);
    const flipped = Buffer.from(big);
    flipped[5_000_000] = 8;
    expect(flipped).not.toEqual(big);
    expect(big.subarray(1)).not.toEqual(big);
    expect({ archive: flipped }).not.toEqual({ archive: big });
    expect('ab').not.toEqual(Buffer.from('ab'));
  });
});
