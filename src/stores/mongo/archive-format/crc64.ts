/**
 * CRC-64 as Go's hash/crc64 computes it with the ECMA table (the CRC-64/XZ parameters: reflected
 * polynomial 0xC96C5795D7870F42, all ones in and out), which mongodump puts in each collection's EOF
 * header. Kept as two 32-bit halves: BigInt arithmetic per byte would be far slower.
 */
const TABLE_HI = new Uint32Array(256);
const TABLE_LO = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let hi = 0;
  let lo = i;
  for (let bit = 0; bit < 8; bit++) {
    const carry = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi >>>= 1;
    if (carry === 1) {
      hi = (hi ^ 0xc96c5795) >>> 0;
      lo = (lo ^ 0xd7870f42) >>> 0;
    }
  }
  TABLE_HI[i] = hi;
  TABLE_LO[i] = lo;
}

export class Crc64 {
  // The running value, already inverted as Go's update does on entry.
  private hi = 0xffffffff;
  private lo = 0xffffffff;

  update(bytes: Uint8Array): void {
    let { hi, lo } = this;
    for (const byte of bytes) {
      const index = (lo ^ byte) & 0xff;
      lo = ((TABLE_LO[index] as number) ^ ((lo >>> 8) | (hi << 24))) >>> 0;
      hi = ((TABLE_HI[index] as number) ^ (hi >>> 8)) >>> 0;
    }
    this.hi = hi;
    this.lo = lo;
  }

  /** The checksum as the signed 64-bit integer mongodump stores (Go's int64(uint64)). */
  signed(): bigint {
    return BigInt.asIntN(64, (BigInt((~this.hi) >>> 0) << 32n) | BigInt((~this.lo) >>> 0));
  }
}
