import { readdir, readFile } from 'node:fs/promises';

/** A small seeded generator (mulberry32): the kill moments of a failed run can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed from FERRY_CRASH_SEED (to replay a failure), else a fresh one; printed either way. */
export function crashSeed(label: string): number {
  const given = process.env.FERRY_CRASH_SEED;
  const seed = given !== undefined && given !== '' ? Number(given) : Math.floor(Math.random() * 2 ** 31);
  console.log(`${label}: kill moments from seed ${seed} (replay with FERRY_CRASH_SEED=${seed})`);
  return seed;
}

/** Processes (pid and command line) whose command line contains `needle`, found through /proc. */
export async function processesMentioning(needle: string): Promise<Array<{ pid: number; cmdline: string }>> {
  const found: Array<{ pid: number; cmdline: string }> = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      const state = /\) (\S)/.exec(await readFile(`/proc/${name}/stat`, 'utf8'))?.[1];
      if (state !== 'Z' && cmdline.includes(needle)) found.push({ pid: Number(name), cmdline });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Waits (bounded) until no process mentions `needle`; returns those still alive at the end. */
export async function untilNoProcessMentions(needle: string, attempts = 100): Promise<Array<{ pid: number; cmdline: string }>> {
  let alive = await processesMentioning(needle);
  for (let i = 0; i < attempts && alive.length > 0; i++) {
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
    alive = await processesMentioning(needle);
  }
  return alive;
}
