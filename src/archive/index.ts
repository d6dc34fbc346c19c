export { ArchiveWriter, writeError, type ArchiveSink, type EntryAttributes, type FinishedArchive } from './writer.js';
export { readArchive, readArchiveStream, drain, readSmallEntry, DigestStream, type ArchiveEntryHeader, type EntryDigest, type EntryHandler, type ReadArchiveOptions } from './reader.js';
export { ManifestChecker } from './checker.js';
export { readArchiveChecked } from './checked-read.js';
export { parseManifest, storeTotals, FORMAT_VERSION, LEGACY_FORMAT_VERSION, MANIFEST_ENTRY, INFO_ENTRY, type Manifest, type ManifestEntry, type StoreManifest } from './manifest.js';
export { archiveNameFor, timeOfArchiveName, isArchiveName, sidecarNames, checksumLine, sha256OfChecksumLine, PARTIAL_SUFFIX, CHECKSUM_SUFFIX, MANIFEST_SUFFIX, VERIFY_SUFFIX } from './naming.js';
export { writeFileAtomic, syncDirectory } from './atomic-file.js';
export { encrypting, decrypting, isAgeHeader, AGE_SUFFIX, type EncryptionSettings, type DecryptionKeys } from './encryption.js';
export { updateLatestLink, isLatestName, isLatestSidecarName, LATEST_NAME } from './latest-link.js';
