import { BSON, type Document } from 'bson';
import { CommandError } from './server.js';

/**
 * What a real mongod of a given version accepts in `create` and `createIndexes`, written from
 * MongoDB's release notes independently of Ferry's own table, so that a test can fail where a real
 * server of that version would. Versions are major.minor; the driver supports 4.4 and later.
 */
type Version = [number, number];

export function parseVersion(version: string): Version {
  const match = /^(\d+)\.(\d+)/.exec(version);
  if (match === null) throw new Error(`test server version ${version} is not major.minor.patch`);
  return [Number(match[1]), Number(match[2])];
}

const from = (v: Version, major: number, minor: number) => v[0] > major || (v[0] === major && v[1] >= minor);

/** The wire version a server of this version announces in hello (4.4 = 9 … 8.0 = 25). */
export function wireVersion(version: string): number {
  const v = parseVersion(version);
  const table: Array<[number, number, number]> = [[8, 0, 25], [7, 3, 24], [7, 2, 23], [7, 1, 22], [7, 0, 21], [6, 3, 20], [6, 2, 19], [6, 1, 18], [6, 0, 17], [5, 3, 16], [5, 2, 15], [5, 1, 14], [5, 0, 13], [4, 4, 9]];
  return table.find(([major, minor]) => from(v, major, minor))?.[2] ?? 9;
}

/** The fields `create` knows in this version; any other is "an unknown field". */
function createFields(v: Version): Set<string> {
  const fields = ['capped', 'size', 'max', 'validator', 'validationLevel', 'validationAction', 'collation', 'viewOn', 'pipeline', 'storageEngine', 'indexOptionDefaults', 'idIndex'];
  if (!from(v, 6, 2)) fields.push('recordPreImages');
  if (from(v, 5, 0)) fields.push('timeseries', 'expireAfterSeconds');
  if (from(v, 5, 3)) fields.push('clusteredIndex');
  if (from(v, 6, 0)) fields.push('changeStreamPreAndPostImages', 'encryptedFields');
  return new Set(fields);
}

function timeseriesFields(v: Version): Set<string> {
  return new Set(['timeField', 'metaField', 'granularity', ...(from(v, 6, 3) ? ['bucketMaxSpanSeconds', 'bucketRoundingSeconds'] : [])]);
}

/** Refuses `create` options this version does not know, with the real server's error. */
export function checkCreateOptions(version: string, options: Document): void {
  const v = parseVersion(version);
  const unknown = (field: string) => new CommandError(40415, 'Location40415', `BSON field '${field}' is an unknown field.`);
  const known = createFields(v);
  for (const key of Object.keys(options)) if (!known.has(key)) throw unknown(`create.${key}`);
  if (options.recordPreImages !== undefined && options.changeStreamPreAndPostImages !== undefined) {
    throw new CommandError(72, 'InvalidOptions', 'recordPreImages and changeStreamPreAndPostImages can not be set at the same time');
  }
  const timeseries = options.timeseries as Document | undefined;
  if (timeseries !== undefined) {
    const knownTs = timeseriesFields(v);
    for (const key of Object.keys(timeseries)) if (!knownTs.has(key)) throw unknown(`create.timeseries.${key}`);
    if (typeof timeseries.timeField !== 'string') throw new CommandError(40414, 'Location40414', "BSON field 'create.timeseries.timeField' is missing but a required field");
  }
  const clustered = options.clusteredIndex as Document | undefined;
  if (clustered !== undefined && (clustered.unique !== true || BSON.EJSON.stringify(clustered.key as Document) !== BSON.EJSON.stringify({ _id: 1 }))) {
    throw new CommandError(2, 'BadValue', "The clusteredIndex option requires key: {_id: 1} and unique: true");
  }
}

/** The fields an index specification may have in this version. */
function indexFields(v: Version): Set<string> {
  const fields = ['v', 'key', 'name', 'ns', 'unique', 'sparse', 'background', 'expireAfterSeconds', 'partialFilterExpression', 'collation', 'weights', 'default_language', 'language_override', 'textIndexVersion', '2dsphereIndexVersion', 'bits', 'min', 'max', 'wildcardProjection', 'storageEngine', 'hidden'];
  if (!from(v, 5, 0)) fields.push('bucketSize');
  if (from(v, 6, 0)) fields.push('prepareUnique');
  return new Set(fields);
}

/** Refuses an index specification this version does not accept, with the real server's error. */
export function checkIndexSpec(version: string, spec: Document): void {
  const v = parseVersion(version);
  const known = indexFields(v);
  for (const field of Object.keys(spec)) {
    if (!known.has(field)) throw new CommandError(197, 'InvalidIndexSpecificationOption', `The field '${field}' is not valid for an index specification. Specification: ${BSON.EJSON.stringify(spec)}`);
  }
  const key = (spec.key ?? {}) as Document;
  const values = Object.values(key).map((value) => (typeof value === 'object' && value !== null && 'valueOf' in value ? (value as { valueOf(): unknown }).valueOf() : value));
  if (values.includes('geoHaystack') && from(v, 5, 0)) throw new CommandError(67, 'CannotCreateIndex', "Unknown index plugin 'geoHaystack'");
  const fields = Object.keys(key);
  if (fields.length > 1 && fields.some((f) => f === '$**' || f.endsWith('.$**')) && !from(v, 7, 0)) {
    throw new CommandError(67, 'CannotCreateIndex', 'wildcard indexes do not allow compounding');
  }
}
