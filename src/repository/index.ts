export { collect, type BackupSummary, type ByteRange, type Repository, type RepositoryLock } from './repository.js';
export { LocalRepository } from './local.js';
export { S3Repository } from './s3.js';
