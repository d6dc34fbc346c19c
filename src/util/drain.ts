import type { Writable } from 'node:stream';

/**
 * Resolves when a stream that refused a write has room again, or when it closed (a failed or
 * destroyed stream never drains: its error is reported by its own listener, and the caller must
 * not wait forever for it).
 */
export function drainedOrClosed(sink: Writable): Promise<void> {
  return new Promise((resolveDrained) => {
    const done = () => {
      sink.off('drain', done);
      sink.off('close', done);
      resolveDrained();
    };
    sink.on('drain', done);
    sink.on('close', done);
  });
}
