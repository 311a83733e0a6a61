// Builds the operator web UI (web/) into web/dist with Vite when the build is missing or older than its sources.
// Runs from `npm install` (prepare) and `npm start` (prestart), so a fresh clone serves the UI with no extra step;
// with dev dependencies left out (`--omit=dev`) it says so and leaves the server to answer "not built".
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const WEB = resolve(import.meta.dirname, '../web');
const BUILT = join(WEB, 'dist/index.html');

function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

const sources = [join(WEB, 'src'), join(WEB, 'index.html'), join(WEB, 'vite.config.ts')];
const force = process.argv.includes('--force');
if (!force && existsSync(BUILT) && statSync(BUILT).mtimeMs >= Math.max(...sources.map(newest))) process.exit(0);

let vite;
try {
  vite = await import('vite');
} catch {
  console.warn('build-web: vite is not installed (dev dependencies omitted?); the web UI is not built.');
  process.exit(0);
}
await vite.build({ configFile: join(WEB, 'vite.config.ts'), logLevel: 'warn' });
console.log('build-web: web UI built into web/dist');
