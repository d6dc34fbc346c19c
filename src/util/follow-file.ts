import { open, type FileHandle } from 'node:fs/promises';

/**
 * Reads a file that something else is still appending to, in order, until the writer is done
 * and the end is reached. Bytes written in place later (pg_dump rewrites its table of contents with
 * data offsets at the end) are not read again: a sequential reader does not need them.
 */
export async function* followGrowingFile(path: string, writerDone: () => boolean, signal: AbortSignal): AsyncGenerator<Buffer> {
  const pause = () => new Promise((resolvePause) => setTimeout(resolvePause, 20));
  let handle: FileHandle | undefined;
  while (handle === undefined) {
    if (signal.aborted) return;
    const finished = writerDone();
    handle = await open(path, 'r').catch(() => undefined);
    if (handle === undefined) {
      if (finished) return;
      await pause();
    }
  }
  try {
    let position = 0;
    for (;;) {
      if (signal.aborted) return;
      const finished = writerDone();
      const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(1024 * 1024), 0, 1024 * 1024, position);
      if (bytesRead > 0) {
        position += bytesRead;
        yield buffer.subarray(0, bytesRead);
      } else if (finished) {
        return;
      } else {
        await pause();
      }
    }
  } finally {
    await handle.close();
  }
}
