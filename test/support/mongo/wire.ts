import { BSON, type Document } from 'bson';

/** MongoDB wire protocol framing: just OP_MSG, and OP_QUERY/OP_REPLY for the legacy handshake. */
export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_MSG = 2013;

export interface IncomingMessage {
  requestId: number;
  opCode: number;
  /** The command document; for OP_MSG document sequences are merged in as arrays of raw buffers. */
  command: Document;
  /** The database the command is for. */
  database: string;
}

const DESERIALIZE = { promoteValues: false, promoteBuffers: false, bsonRegExp: true, fieldsAsRaw: { documents: true } } as const;

export function parseMessage(frame: Buffer): IncomingMessage {
  const requestId = frame.readInt32LE(4);
  const opCode = frame.readInt32LE(12);
  if (opCode === OP_MSG) {
    const flags = frame.readUInt32LE(16);
    const end = flags & 1 ? frame.length - 4 : frame.length;
    let offset = 20;
    let command: Document | undefined;
    const sequences: Record<string, Buffer[]> = {};
    while (offset < end) {
      const kind = frame[offset];
      offset += 1;
      const size = frame.readInt32LE(offset);
      if (kind === 0) {
        command = BSON.deserialize(frame.subarray(offset, offset + size), DESERIALIZE);
        offset += size;
      } else if (kind === 1) {
        const sectionEnd = offset + size;
        let p = offset + 4;
        const nameEnd = frame.indexOf(0, p);
        const identifier = frame.toString('utf8', p, nameEnd);
        p = nameEnd + 1;
        const docs: Buffer[] = [];
        while (p < sectionEnd) {
          const docSize = frame.readInt32LE(p);
          docs.push(Buffer.from(frame.subarray(p, p + docSize)));
          p += docSize;
        }
        sequences[identifier] = docs;
        offset = sectionEnd;
      } else {
        throw new Error(`unknown OP_MSG section kind ${kind}`);
      }
    }
    if (command === undefined) throw new Error('OP_MSG without a body section');
    Object.assign(command, sequences);
    return { requestId, opCode, command, database: String(command.$db ?? 'admin') };
  }
  if (opCode === OP_QUERY) {
    let p = 20;
    const nameEnd = frame.indexOf(0, p);
    const collection = frame.toString('utf8', p, nameEnd);
    p = nameEnd + 1 + 8;
    const size = frame.readInt32LE(p);
    const command = BSON.deserialize(frame.subarray(p, p + size), DESERIALIZE);
    return { requestId, opCode, command, database: collection.split('.')[0] ?? 'admin' };
  }
  throw new Error(`unsupported wire opcode ${opCode}`);
}

let nextResponseId = 1;

function header(length: number, responseTo: number, opCode: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(nextResponseId++, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

export function encodeReply(to: IncomingMessage, body: Buffer): Buffer {
  if (to.opCode === OP_MSG) {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32LE(0, 0);
    prefix[4] = 0;
    return Buffer.concat([header(16 + 5 + body.length, to.requestId, OP_MSG), prefix, body]);
  }
  const reply = Buffer.alloc(20);
  reply.writeInt32LE(0, 0);
  reply.writeBigInt64LE(0n, 4);
  reply.writeInt32LE(0, 12);
  reply.writeInt32LE(1, 16);
  return Buffer.concat([header(16 + 20 + body.length, to.requestId, OP_REPLY), reply, body]);
}

/** Builds a BSON document by hand, so stored documents are sent back byte for byte, never re-encoded. */
export function rawDocument(elements: Buffer[]): Buffer {
  const body = Buffer.concat(elements);
  const out = Buffer.alloc(4 + body.length + 1);
  out.writeInt32LE(out.length, 0);
  body.copy(out, 4);
  return out;
}

function key(type: number, name: string): Buffer {
  return Buffer.concat([Buffer.from([type]), Buffer.from(name, 'utf8'), Buffer.from([0])]);
}

export const element = {
  document: (name: string, raw: Buffer) => Buffer.concat([key(0x03, name), raw]),
  array: (name: string, raws: Buffer[]) => Buffer.concat([key(0x04, name), rawDocument(raws.map((r, i) => element.document(String(i), r)))]),
  string: (name: string, value: string) => {
    const bytes = Buffer.from(value, 'utf8');
    const len = Buffer.alloc(4);
    len.writeInt32LE(bytes.length + 1);
    return Buffer.concat([key(0x02, name), len, bytes, Buffer.from([0])]);
  },
  long: (name: string, value: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(value);
    return Buffer.concat([key(0x12, name), b]);
  },
  /** A BSON timestamp: increment, then seconds. */
  timestamp: (name: string, seconds: number, increment: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(increment, 0);
    b.writeUInt32LE(seconds, 4);
    return Buffer.concat([key(0x11, name), b]);
  },
  double: (name: string, value: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(value);
    return Buffer.concat([key(0x01, name), b]);
  },
};
