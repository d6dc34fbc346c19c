import { createServer, type Server, type Socket } from 'node:net';
import { BSON, type Document } from 'bson';
import { handleCommand, type ConnectionState } from './commands.js';
import { encodeReply, parseMessage } from './wire.js';
import { Storage } from './storage.js';

export interface MongoTestServerOptions {
  /** Users that may log in with SCRAM-SHA-256; when empty, no authentication is required. */
  users?: Record<string, string>;
}

/**
 * A small in-process server that speaks the MongoDB wire protocol for exactly the commands Ferry's
 * driver sends, and answers every other command with an error naming it. A test instrument only:
 * tests reach it through the official driver, never directly.
 */
export class MongoTestServer {
  readonly storage = new Storage();
  /** Every command name received, for tests that check what was sent. */
  readonly commandLog: string[] = [];
  readonly cursors = new Map<bigint, { ns: string; docs: Buffer[]; position: number }>();
  nextCursorId = 1000n;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(readonly options: MongoTestServerOptions = {}) {}

  async start(port = 0): Promise<string> {
    this.server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolveListen) => this.server?.listen(port, '127.0.0.1', resolveListen));
    const address = this.server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    return `mongodb://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolveClose) => (this.server === undefined ? resolveClose() : this.server.close(() => resolveClose())));
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const state: ConnectionState = { authenticated: Object.keys(this.options.users ?? {}).length === 0 };
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const length = pending.readInt32LE(0);
        if (pending.length < length) break;
        const frame = pending.subarray(0, length);
        pending = pending.subarray(length);
        const message = parseMessage(frame);
        const name = Object.keys(message.command)[0] ?? '';
        this.commandLog.push(name);
        let body: Buffer;
        try {
          const reply = handleCommand(this, state, message);
          body = Buffer.isBuffer(reply) ? reply : Buffer.from(BSON.serialize(reply));
        } catch (error) {
          body = Buffer.from(BSON.serialize(failure(error)));
        }
        socket.write(encodeReply(message, body));
      }
    });
  }
}

export class CommandError extends Error {
  constructor(readonly code: number, readonly codeName: string, message: string, readonly extra: Document = {}) {
    super(message);
  }
}

function failure(error: unknown): Document {
  if (error instanceof CommandError) return { ok: 0, errmsg: error.message, code: error.code, codeName: error.codeName, ...error.extra };
  return { ok: 0, errmsg: `test server failure: ${(error as Error).message}`, code: 1, codeName: 'InternalError' };
}
