import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** `index.html` (and its pre-compressed copies) is revalidated; names under `assets/` carry their content hash. */
const INDEX_HTML = /[\\/]index\.html(\.br|\.gz)?$/;
const HASHED_ASSET = /[\\/]assets[\\/][^\\/]+$/;

/**
 * Serves the built web app from `root`. The build writes .br/.gz beside each text asset
 * (web/vite.config.ts): sent as the browser accepts, never compressed per request. Hashed assets
 * never change (cached for a year); index.html names the current ones, so it is revalidated on
 * every load and a deploy is seen at once.
 */
export async function registerWebApp(http: FastifyInstance, root: string): Promise<void> {
  await http.register(fastifyStatic, {
    root,
    prefix: '/',
    wildcard: false,
    preCompressed: true,
    cacheControl: false,
    setHeaders: (res, filePath) => {
      const hashed = !INDEX_HTML.test(filePath) && HASHED_ASSET.test(filePath);
      res.setHeader('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      res.setHeader('vary', 'accept-encoding');
    },
  });
  // The web app routes on the client: unknown GETs outside the API and the assets get its
  // index.html (a missing asset, such as a source map not built, is a 404, not a page).
  http.setNotFoundHandler((req, reply) => {
    if (req.method === 'GET' && isClientRoute(req.url)) return reply.sendFile('index.html');
    return reply.code(404).send({ code: 'not_found', message: 'no such route' });
  });
}

/** A path the web app routes on the client. A path naming a file (`/nope.js`, `/favicon.ico`) never is. */
export function isClientRoute(url: string): boolean {
  const path = url.split('?')[0] ?? url;
  const namesAFile = /\.[A-Za-z0-9]+$/.test(path.slice(path.lastIndexOf('/') + 1));
  return !namesAFile && !path.startsWith('/api/') && !path.startsWith('/socket') && !path.startsWith('/assets/');
}
