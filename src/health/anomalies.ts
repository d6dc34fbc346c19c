/** One object whose count fell sharply compared with the backups before. */
export interface Anomaly {
  store: string;
  object: string;
  /** Median over the earlier backups that hold the object. */
  before: number;
  /** In the newest backup; 0 when it disappeared. */
  after: number;
  disappeared: boolean;
}

export interface AnomalyThresholds {
  /** How many earlier backups the median looks at. */
  previous: number;
  /** A drop counts when it is over this share of the median… */
  dropRatio: number;
  /** …and over this many rows, documents or files. */
  dropAbsolute: number;
}

export const DEFAULT_ANOMALY_THRESHOLDS: AnomalyThresholds = { previous: 7, dropRatio: 0.5, dropAbsolute: 1000 };

export type StoreCounts = Record<string, Record<string, number>>;

/** What the configuration says about one object: thresholds of its own, or that it may shrink. */
export interface ObjectRule {
  shrinkExpected?: boolean;
  dropRatio?: number;
  dropAbsolute?: number;
}

/** The rule for an object of a store (`postgres`, `mongo`, `uploads`), when one is configured. */
export type ObjectRuleLookup = (store: string, object: string) => ObjectRule | undefined;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Per table, collection and uploads count: the newest backup against the median of the ones before
 * (newest first), a pure function. A drop is an anomaly when it is over both thresholds; an object
 * that most earlier backups hold and the newest lacks has disappeared. An object's own rule replaces
 * the thresholds, or (expected to shrink) lets any drop pass; a disappearance is reported whatever it says.
 */
export function findAnomalies(newest: StoreCounts, earlier: StoreCounts[], t: AnomalyThresholds = DEFAULT_ANOMALY_THRESHOLDS, ruleFor: ObjectRuleLookup = () => undefined): Anomaly[] {
  const window = earlier.slice(0, t.previous);
  if (window.length === 0) return [];
  const anomalies: Anomaly[] = [];
  const seen = new Set<string>();
  for (const counts of window) {
    for (const [store, objects] of Object.entries(counts)) {
      // A store the newest backup does not hold at all is the contents check's business.
      if (newest[store] === undefined) continue;
      for (const object of Object.keys(objects)) {
        const key = `${store}\u0000${object}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const values = window.map((c) => c[store]?.[object]).filter((v): v is number => v !== undefined);
        const before = median(values);
        const after = newest[store]?.[object];
        if (after === undefined) {
          if (values.length * 2 > window.length && before > 0) anomalies.push({ store, object, before, after: 0, disappeared: true });
          continue;
        }
        const rule = ruleFor(store, object);
        if (rule?.shrinkExpected === true) continue;
        const drop = before - after;
        if (drop > (rule?.dropAbsolute ?? t.dropAbsolute) && drop > before * (rule?.dropRatio ?? t.dropRatio)) anomalies.push({ store, object, before, after, disappeared: false });
      }
    }
  }
  return anomalies.sort((a, b) => (b.before - b.after) - (a.before - a.after));
}
