import type { Manifest } from '../archive/index.js';
import { formatBytes } from '../util/format.js';

/** backup_info.txt: what a person needs to know about the archive, and how to restore it by hand. */
export function renderBackupInfo(manifest: Omit<Manifest, 'entries'>, archiveName: string): string {
  const lines = [
    `Ferry backup ${archiveName}`,
    `created:     ${manifest.createdAt} (UTC)`,
    `host:        ${manifest.host}`,
    `ferry:       ${manifest.tool.version} (archive format ${manifest.formatVersion})`,
    '',
    'Contents',
  ];
  for (const [name, store] of Object.entries(manifest.stores)) {
    lines.push(`  ${name}: ${store.source}${store.serverVersion ? `, server ${store.serverVersion}` : ''}${store.toolVersion ? `, dumped with ${store.toolVersion}` : ''}, ${formatBytes(store.bytes)}`);
    for (const [object, count] of Object.entries(store.counts)) lines.push(`    ${object}: ${count}`);
    if (store.facts?.consistency !== undefined) lines.push(`  ${name} consistency: ${store.facts.consistency}`);
  }
  lines.push(
    '',
    'Restore with Ferry',
    `  ferry inspect ${archiveName}`,
    `  ferry restore ${archiveName}            (all stores; --only postgres,uploads for part)`,
    '',
    'Restore by hand',
    manifest.compression?.codec === 'zstd'
      ? `  mkdir restore && tar --zstd -xf ${archiveName} -C restore && cd restore      (or: zstd -dc ${archiveName} | tar -xf - -C restore)`
      : `  mkdir restore && tar -xzf ${archiveName} -C restore && cd restore`,
    '  sha256sum -c is possible per file against manifest.json ("entries": path, sha256)',
  );
  if (manifest.stores.postgres !== undefined) {
    lines.push(
      '  PostgreSQL, custom format (needs pg_restore of the same major version or newer), into an empty database:',
      '    createdb mydb',
      '    pg_restore --no-owner --no-privileges --single-transaction --dbname=mydb postgresql/database.backup',
      '  PostgreSQL, plain SQL (any psql; written without owners and grants), into an empty database:',
      '    createdb mydb2',
      '    psql -v ON_ERROR_STOP=1 --single-transaction --dbname=mydb2 -f postgresql/database.sql',
    );
  }
  if (manifest.stores.mongo !== undefined) {
    lines.push(
      '  MongoDB (mongorestore of the MongoDB Database Tools; mongodb/<database>/ is what mongodump writes),',
      '  replacing the collections it holds (add --username/--password or credentials in the URI as needed):',
      "    mongorestore --uri 'mongodb://localhost:27017' --drop --dir mongodb/",
      "    into another database: add --nsFrom '<database>.*' --nsTo 'mydb.*'",
    );
  }
  const chain = manifest.stores.uploads?.chain;
  if (chain?.kind === 'delta') {
    lines.push(
      `  Uploads: this archive is a delta on ${chain.base?.name ?? '?'} (which may be a delta too): uploads/ holds only`,
      '  the files that changed. Extract the chain\'s full, then each delta in order, each time first removing',
      '  the paths it lists in uploads.deleted: tar -xf <delta> -O uploads.deleted | xargs -0 -r rm -rf --',
    );
  } else if (manifest.stores.uploads !== undefined) {
    lines.push('  Uploads: copy the uploads/ folder into place, e.g. rsync -a uploads/ /path/to/uploads/');
  }
  lines.push('', 'No passwords are stored in this archive.', '');
  return lines.join('\n');
}
