import type { AnomaliesConfig } from '../config/index.js';
import { postgresNameMatches } from '../config/object-names.js';
import { DEFAULT_ANOMALY_THRESHOLDS, type AnomalyThresholds, type ObjectRule, type StoreCounts } from './anomalies.js';

type Section = 'postgres' | 'mongodb' | 'uploads';

/** The configuration section of each store kind the manifests record, and how its names compare. */
const SECTIONS: Record<string, { section: Section; matches: (configured: string, recorded: string) => boolean }> = {
  postgres: { section: 'postgres', matches: postgresNameMatches },
  mongo: { section: 'mongodb', matches: (configured, recorded) => configured === recorded },
  uploads: { section: 'uploads', matches: (configured, recorded) => configured === recorded },
};

/** The one rule set health and retention apply: the global thresholds and each object's own rule. */
export interface AnomalyRules {
  thresholds: AnomalyThresholds;
  ruleFor: (store: string, object: string) => ObjectRule | undefined;
  /** Configured names that no object in these counts answers to (a typo, or a table long gone). */
  unmatched: (seen: StoreCounts[]) => Array<{ key: string; name: string }>;
}

type ConfiguredRule = AnomaliesConfig['postgres'][string];

function toRule(rule: ConfiguredRule): ObjectRule {
  return {
    ...(rule.shrink === 'expected' ? { shrinkExpected: true } : {}),
    ...(rule.max_drop_percent === undefined ? {} : { dropRatio: rule.max_drop_percent / 100 }),
    ...(rule.max_drop_count === undefined ? {} : { dropAbsolute: rule.max_drop_count }),
  };
}

function configured(config: AnomaliesConfig, section: Section): Array<[string, ConfiguredRule]> {
  const entries = Object.entries(config[section] as Record<string, ConfiguredRule | undefined>)
    .filter((entry): entry is [string, ConfiguredRule] => entry[1] !== undefined);
  // schema.table before a bare table name: the more precise rule wins.
  return entries.sort(([a], [b]) => Number(b.includes('.')) - Number(a.includes('.')));
}

export function anomalyRules(config: AnomaliesConfig | undefined): AnomalyRules {
  if (config === undefined) return { thresholds: DEFAULT_ANOMALY_THRESHOLDS, ruleFor: () => undefined, unmatched: () => [] };
  const thresholds = { previous: DEFAULT_ANOMALY_THRESHOLDS.previous, dropRatio: config.max_drop_percent / 100, dropAbsolute: config.max_drop_count };
  return {
    thresholds,
    ruleFor(store, object) {
      const kind = SECTIONS[store];
      if (kind === undefined) return undefined;
      const found = configured(config, kind.section).find(([name]) => kind.matches(name, object));
      return found === undefined ? undefined : toRule(found[1]);
    },
    unmatched(seen) {
      const missing: Array<{ key: string; name: string }> = [];
      for (const [store, kind] of Object.entries(SECTIONS)) {
        for (const [name] of configured(config, kind.section)) {
          const present = seen.some((counts) => Object.keys(counts[store] ?? {}).some((object) => kind.matches(name, object)));
          if (!present) missing.push({ key: `health.anomalies.${kind.section}`, name });
        }
      }
      return missing;
    },
  };
}
