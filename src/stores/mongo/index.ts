export { MongoStore, MONGO_PREFIX } from './store.js';
export { escapeCollectionName, unescapeCollectionName } from './names.js';
export { readBsonFile, parseDocument, checkBsonFile } from './bson-file.js';
