export { FilesStore, UPLOADS_PREFIX } from './store.js';
export { countTree, walk, type TreeCounts } from './walk.js';
export { ExecFilesStore } from './exec-store.js';
