/**
 * Builds the residents' web app into `dist/web`: the browser TypeScript through `tsc -p
 * tsconfig.web.json` (ES modules with relative `.js` imports, no bundler), then the static files
 * (index.html, CSS, manifest, icons, i18n catalogues, the service worker) copied beside it.
 * Prints the gzip size of the JavaScript, which must stay under 150 kB (hls.js apart).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const STATIC = ['index.html', 'app.css', 'manifest.webmanifest', 'sw.js', 'icons', 'i18n'];
export const JS_BUDGET_GZIP_BYTES = 150 * 1024;

/** The repository root: the nearest folder above this file that holds package.json. */
function rootDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      if (statSync(join(dir, 'package.json')).isFile()) return dir;
    } catch {}
    const up = dirname(dir);
    if (up === dir) throw new Error('build-web: no package.json above this script');
    dir = up;
  }
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** Gzip size of every .js file of the built app, in bytes. */
export function jsGzipBytes(outDir: string): number {
  return files(outDir)
    .filter((f) => f.endsWith('.js'))
    .reduce((sum, f) => sum + gzipSync(readFileSync(f), { level: 9 }).length, 0);
}

export function buildWeb(root = rootDir()): { outDir: string; jsGzipBytes: number } {
  const src = join(root, 'hub/web');
  const outDir = join(root, 'dist/web');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.web.json')], { stdio: 'inherit' });
  for (const name of STATIC) cpSync(join(src, name), join(outDir, name), { recursive: true });
  const size = jsGzipBytes(outDir);
  if (size > JS_BUDGET_GZIP_BYTES) {
    throw new Error(
      `build-web: ${size} bytes of gzipped JavaScript, over the ${JS_BUDGET_GZIP_BYTES} budget`,
    );
  }
  return { outDir, jsGzipBytes: size };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { outDir, jsGzipBytes: size } = buildWeb();
  console.log(`web app built in ${outDir}: ${(size / 1024).toFixed(1)} kB of JavaScript gzipped`);
}
