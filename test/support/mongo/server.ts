import { createServer, type Server, type Socket } from 'node:net';
import { BSON, type Document } from 'bson';
import { handleCommand, type ConnectionState } from './commands.js';
import { encodeReply, parseMessage } from './wire.js';
import { Storage } from './storage.js';
import type { TestUser } from './roles.js';

export interface MongoTestServerOptions {
  /**
   * Users that may log in with SCRAM-SHA-256 (a bare password means the root role); when empty, no
   * authentication is required. Roles are enforced per command.
   */
  users?: Record<string, string | TestUser>;
  /** Answer hello as the primary of a one-member replica set with this name; a standalone server when absent. */
  replicaSet?: string;
  /** The version buildInfo and hello report, and whose create and index options the server accepts; 7.0.0 when absent. */
  version?: string;
}

/** A failure the server is told to cause: the `after`-th next `command` (1 = the next one) fails or drops its connection. */
export interface Fault {
  command: string;
  after: number;
  mode: 'error' | 'close';
}

/**
 * A small in-process server that speaks the MongoDB wire protocol for exactly the commands Ferry's
 * driver sends, and answers every other command with an error naming it. A test instrument only:
 * tests reach it through the official driver, never directly.
 */
/** The next `command` waits for `release` (after calling `reached`), while other connections go on. */
export interface Hold {
  command: string;
  /** Hold the `after`-th such command (1 = the next one, the default). */
  after?: number;
  reached: () => void;
  release: Promise<void>;
}

export class MongoTestServer {
  readonly storage = new Storage();
  /** Every command name received, for tests that check what was sent. */
  readonly commandLog: string[] = [];
  /** `<command> <mode>` for every command sent with a $readPreference. */
  readonly readPreferenceLog: string[] = [];
  readonly cursors = new Map<bigint, { ns: string; docs: Buffer[]; position: number }>();
  nextCursorId = 1000n;
  /** Set by a test to make a command fail part-way through an operation; cleared once it fired. */
  fault: Fault | undefined;
  /** Set by a test to hold the next such command until it has done something else meanwhile. */
  hold: Hold | undefined;
  /** Counts writes: the cluster time of snapshot reads. */
  operationTime = 1;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(readonly options: MongoTestServerOptions = {}) {}

  get version(): string {
    return this.options.version ?? '7.0.0';
  }

  user(name: string): TestUser | undefined {
    const user = this.options.users?.[name];
    return typeof user === 'string' ? { password: user, roles: [{ role: 'root', db: 'admin' }] } : user;
  }

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
    // The chunks of a frame are joined once it is whole: joining at every chunk made a 48 MB insert
    // cost seconds of copying.
    let pending: Buffer[] = [];
    let buffered = 0;
    // Frames are answered in order, one after another, so a held command holds its connection only.
    let queue = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      pending.push(chunk);
      buffered += chunk.length;
      while (buffered >= 4) {
        if ((pending[0] as Buffer).length < 4) pending = [Buffer.concat(pending, buffered)];
        const length = (pending[0] as Buffer).readInt32LE(0);
        if (buffered < length) break;
        const joined = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, buffered);
        const frame = joined.subarray(0, length);
        const rest = joined.subarray(length);
        pending = rest.length === 0 ? [] : [rest];
        buffered = rest.length;
        queue = queue.then(() => this.answer(socket, state, frame));
      }
    });
  }

  private async answer(socket: Socket, state: ConnectionState, frame: Buffer): Promise<void> {
    if (socket.destroyed) return;
    const message = parseMessage(frame);
    const name = Object.keys(message.command)[0] ?? '';
    this.commandLog.push(name);
    const preference = (message.command.$readPreference as { mode?: unknown } | undefined)?.mode;
    if (preference !== undefined) this.readPreferenceLog.push(`${name} ${String(preference)}`);
    if (this.hold?.command === name && (this.hold.after === undefined || --this.hold.after === 0)) {
      const hold = this.hold;
      this.hold = undefined;
      hold.reached();
      await hold.release;
    }
    if (this.fault?.command === name && --this.fault.after === 0) {
      const mode = this.fault.mode;
      this.fault = undefined;
      if (mode === 'close') {
        socket.destroy();
        return;
      }
      socket.write(encodeReply(message, Buffer.from(BSON.serialize({ ok: 0, errmsg: `${name} failed: fault injected by the test`, code: 136, codeName: 'CappedPositionLost' }))));
      return;
    }
    let body: Buffer;
    try {
      const reply = handleCommand(this, state, message);
      body = Buffer.isBuffer(reply) ? reply : Buffer.from(BSON.serialize(reply));
    } catch (error) {
      body = Buffer.from(BSON.serialize(failure(error)));
    }
    socket.write(encodeReply(message, body));
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
