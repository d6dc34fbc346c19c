import { BSON, type Document } from 'bson';
import { KEEP, type Masker, type Transformer } from '../../mask/transformers.js';
import type { FieldRule } from '../../mask/rules.js';
import type { MaskedObjectStats } from '../store.js';
import { EXACT_TYPES } from './bson-file.js';

type Container = Record<string, unknown>;

/** A sub-document, as opposed to a BSON value (ObjectId, Int32, Decimal128…), an array or a date. */
function isSubDocument(value: unknown): value is Container {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !('_bsontype' in value) && !(value instanceof Date) && !(value instanceof RegExp) && !(value instanceof Uint8Array);
}

/** True when some document node holds the path (through arrays): the rule can match. */
export function hasPath(node: unknown, path: readonly string[]): boolean {
  if (Array.isArray(node)) return node.some((element) => hasPath(element, path));
  if (!isSubDocument(node)) return false;
  const [head, ...rest] = path as [string, ...string[]];
  if (!(head in node)) return false;
  return rest.length === 0 || hasPath(node[head], rest);
}

/**
 * Masks the fields of one collection's documents as they stream into the insert batches. Strings
 * are masked; `null` and `fixed` replace any value; other types stay as they are. Documents of a
 * collection with rules are re-encoded, so their field order is kept but not their exact bytes.
 */
export class DocumentMasker {
  readonly stats: MaskedObjectStats;
  /** Rules whose field no document has had so far: a misspelt path. */
  readonly unmatched: Set<FieldRule>;

  constructor(collection: string, private readonly rules: FieldRule[], private readonly masker: Masker) {
    this.stats = { object: collection, rows: 0, masked: 0 };
    this.unmatched = new Set(rules);
  }

  /** The same rules with counts of their own (for a second pass over the same documents). */
  copy(): DocumentMasker {
    return new DocumentMasker(this.stats.object, this.rules, this.masker);
  }

  apply(bytes: Buffer): Buffer {
    const doc: Document = BSON.deserialize(bytes, EXACT_TYPES);
    this.stats.rows++;
    for (const rule of this.unmatched) if (hasPath(doc, rule.path)) this.unmatched.delete(rule);
    let masked = 0;
    for (const rule of this.rules) masked += this.maskAt(doc, rule.path, rule.transformer);
    if (masked === 0) return bytes;
    this.stats.masked += masked;
    return Buffer.from(BSON.serialize(doc));
  }

  private maskAt(node: unknown, path: readonly string[], transformer: Transformer): number {
    if (Array.isArray(node)) return node.reduce((n: number, element) => n + this.maskAt(element, path, transformer), 0);
    if (!isSubDocument(node)) return 0;
    const [head, ...rest] = path as [string, ...string[]];
    if (!(head in node)) return 0;
    if (rest.length > 0) return this.maskAt(node[head], rest, transformer);
    const value = node[head];
    if (!Array.isArray(value)) return this.replace(node, head, value, transformer);
    let n = 0;
    for (let i = 0; i < value.length; i++) n += this.replace(value as unknown as Container, String(i), value[i], transformer);
    return n;
  }

  /** Replaces container[key] when the transformer changes it; 1 when it did. */
  private replace(container: Container, key: string, value: unknown, transformer: Transformer): number {
    if (value === null || value === undefined) return 0;
    let next: unknown;
    if (transformer.kind === 'fixed') next = transformer.value;
    else if (transformer.kind === 'null') next = null;
    else if (typeof value === 'string') next = this.masker.mask(transformer, value);
    else return 0;
    if (next === KEEP) return 0;
    container[key] = next;
    return 1;
  }
}
