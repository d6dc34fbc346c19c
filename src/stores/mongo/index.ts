export { MongoStore, MONGO_PREFIX } from './store.js';
export { escapeCollectionName, unescapeCollectionName } from './names.js';
export { readBsonFile, parseDocument } from './bson-file.js';
