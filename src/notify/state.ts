import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../archive/index.js';

/**
 * What notifications already said, kept in the backup directory so that a health check every 15
 * minutes mails a state change once (and again a day later), and a digest goes once a day.
 */
interface NoticeState {
  digestDay?: string;
  health?: { state: number; at: string };
}

const FILE = '.ferry-notified.json';

async function read(dir: string): Promise<NoticeState> {
  try {
    return JSON.parse(await readFile(join(dir, FILE), 'utf8')) as NoticeState;
  } catch {
    return {};
  }
}

async function write(dir: string, state: NoticeState): Promise<void> {
  await writeFileAtomic(join(dir, FILE), JSON.stringify(state) + '\n', 0o600).catch(() => undefined);
}

/** True once per UTC day; records the day when it says so. */
export async function takeDigestDay(dir: string, now: Date): Promise<boolean> {
  const state = await read(dir);
  const day = now.toISOString().slice(0, 10);
  if (state.digestDay === day) return false;
  await write(dir, { ...state, digestDay: day });
  return true;
}

const REPEAT_MS = 24 * 3600 * 1000;

/**
 * Whether a health result is news: CRITICAL after anything else (or again after a day of it), or
 * OK after CRITICAL. Records the state it was told.
 */
export async function healthNews(dir: string, status: number, now: Date): Promise<'critical' | 'recovered' | undefined> {
  const state = await read(dir);
  const previous = state.health;
  let news: 'critical' | 'recovered' | undefined;
  if (status === 2 && (previous?.state !== 2 || now.getTime() - Date.parse(previous.at) >= REPEAT_MS)) news = 'critical';
  else if (status === 0 && previous?.state === 2) news = 'recovered';
  if (news !== undefined || previous?.state !== status) {
    await write(dir, { ...state, health: { state: status, at: news === undefined && previous?.state === status ? previous.at : now.toISOString() } });
  }
  return news;
}
