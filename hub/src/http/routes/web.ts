import { createReadStream, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

/** The repository (or installed package) root: the nearest folder above this file with package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('web: no package.json above the hub');
    dir = up;
  }
  return dir;
}

/**
 * The page may talk only to this hub: no CDN, no other site. `ws:` because `connect-src 'self'`
 * does not cover WebSocket in older Safari; `blob:` for the MediaSource URL and hls.js's worker.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "connect-src 'self' ws: wss:",
  "worker-src 'self' blob:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/**
 * The residents' web app, built by `npm run build` into `dist/web`, served at `/`, and hls.js
 * (for recorded video) at `/vendor/hls.min.js`. Every page file is revalidated on each load
 * (ETag), so an update of the hub reaches phones at their next visit.
 */
export const webRoutes: FastifyPluginAsync<{ dir?: string }> = async (app, opts) => {
  const root = packageRoot();
  const dir = opts.dir ?? join(root, 'dist/web');
  const hlsFile = createRequire(join(root, 'package.json')).resolve('hls.js/dist/hls.min.js');

  app.get('/vendor/hls.min.js', { schema: { hide: true } }, async (_req, reply) =>
    reply
      .header('content-type', 'text/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=86400')
      .header('content-length', statSync(hlsFile).size)
      .send(createReadStream(hlsFile)),
  );

  if (!existsSync(join(dir, 'index.html'))) {
    app.log.warn({ dir }, 'web app not built: run npm run build');
    app.get('/', { schema: { hide: true } }, async (_req, reply) =>
      reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send('The web app is not built: run npm run build on the hub.'),
    );
    return;
  }

  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    index: 'index.html',
    wildcard: true,
    cacheControl: true,
    maxAge: 0,
    schemaHide: true,
    setHeaders: (reply, path) => {
      reply.header('x-content-type-options', 'nosniff');
      if (path.endsWith('.html')) {
        reply.header('content-security-policy', CSP);
        reply.header('referrer-policy', 'no-referrer');
      }
      if (path.endsWith('.webmanifest')) reply.header('content-type', 'application/manifest+json');
    },
  });
};
