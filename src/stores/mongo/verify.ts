import { createInterface } from 'node:readline';
import { drain } from '../../archive/index.js';
import { FerryError } from '../../errors/index.js';
import type { ContentChecker } from '../store.js';
import { parseDocument, readBsonStream } from './bson-file.js';
import { unescapeCollectionName } from './names.js';

/** Every document of a .bson entry parses; how many there are is compared with the manifest. */
export const mongoBsonChecker: ContentChecker = {
  accepts: (path) => path.startsWith('mongodb/') && path.endsWith('.bson'),
  async check(path, data) {
    const object = unescapeCollectionName(path.slice(path.lastIndexOf('/') + 1, -'.bson'.length));
    let count = 0;
    try {
      for await (const doc of readBsonStream(data.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>, path)) {
        parseDocument(doc, path);
        count++;
      }
    } catch (error) {
      await drain(data);
      if (error instanceof FerryError) return { problems: [error.message] };
      throw error;
    }
    return { problems: [], count: { store: 'mongo', object, value: count } };
  },
};

/** A JSON export parses, one document per line; as many as the collection has. */
export const mongoExportChecker: ContentChecker = {
  accepts: (path) => !path.includes('/') && path.endsWith('_export.json'),
  async check(path, data) {
    const problems: string[] = [];
    let count = 0;
    let lineNumber = 0;
    for await (const line of createInterface({ input: data, crlfDelay: Infinity })) {
      lineNumber++;
      const text = line.trim().replace(/,$/, '');
      if (text === '' || text === '[' || text === ']' || text === '[]') continue;
      try {
        JSON.parse(text);
        count++;
      } catch {
        if (problems.length === 0) problems.push(`${path}: line ${lineNumber} is not valid JSON`);
      }
    }
    return { problems, count: { store: 'mongo', object: unescapeCollectionName(path.slice(0, -'_export.json'.length)), value: count } };
  },
};
