import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

// The gateway serves the API and the socket on :4000 (and the built app itself, from web/dist);
// in development Vite serves the app and forwards both, so the app always talks to its own origin.
// GATEWAY_URL points the development server at a gateway elsewhere.
const gateway = process.env.GATEWAY_URL ?? 'http://localhost:4000';

// A public source map hands out the whole client source: only when asked for (WEB_SOURCEMAP=true).
const sourcemap = process.env.WEB_SOURCEMAP === 'true';

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/**
 * Writes `.br` and `.gz` beside every text asset of the build, compressed once at build time at
 * the highest levels, so the gateway (@fastify/static `preCompressed`) serves them without
 * compressing per request.
 */
function precompress(): Plugin {
  let outDir = 'dist';
  return {
    name: 'siteflow-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = path.resolve(config.root, config.build.outDir);
    },
    async writeBundle(_options, bundle) {
      const files = Object.keys(bundle).filter((f) => /\.(js|css|html|svg|json|map)$/.test(f));
      await Promise.all(
        files.map(async (file) => {
          const full = path.join(outDir, file);
          const raw = await readFile(full);
          const [br, gz] = await Promise.all([
            brotli(raw, { params: { [zlib.BROTLI_PARAM_QUALITY]: zlib.BROTLI_MAX_QUALITY, [zlib.BROTLI_PARAM_SIZE_HINT]: raw.length } }),
            gzipAsync(raw, { level: 9 }),
          ]);
          await Promise.all([writeFile(`${full}.br`, br), writeFile(`${full}.gz`, gz)]);
        }),
      );
    },
  };
}

/**
 * Modules that must never reach the browser: zod and the contracts' schemas. The app takes the
 * contracts' values from their zod-free entry (`@siteflow/contracts/constants`) and their types
 * with `import type`; a value import from the main entry would pull in zod and every schema.
 */
export function isServerOnlyModule(id: string): boolean {
  const file = id.split(path.sep).join('/');
  if (/\/node_modules\/zod\//.test(file)) return true;
  const contracts =
    /\/packages\/contracts\/(?:dist|src)\/([^/]+)\.[jt]s$/.exec(file) ?? /\/@siteflow\/contracts\/(?:dist|src)\/([^/]+)\.[jt]s$/.exec(file);
  return contracts !== null && contracts[1] !== 'constants';
}

/** Fails the build when a server-only module (`isServerOnlyModule`) is in the bundle, naming it. */
function serverOnlyModulesStayOut(): Plugin {
  return {
    name: 'siteflow-server-only-modules',
    apply: 'build',
    generateBundle(_options, bundle) {
      const offending = Object.values(bundle)
        .flatMap((output) => (output.type === 'chunk' ? output.moduleIds : []))
        .filter(isServerOnlyModule);
      if (offending.length > 0) {
        this.error(
          `server-only modules in the web bundle (import the contracts' values from '@siteflow/contracts/constants', their types with 'import type'): ${offending.slice(0, 5).join(', ')}`,
        );
      }
    },
  };
}

export default defineConfig({
  plugins: [react(), precompress(), serverOnlyModulesStayOut()],
  server: {
    proxy: {
      '/api': { target: gateway, changeOrigin: true },
      // The gateway accepts sockets from its own origin only (unless ALLOWED_ORIGINS says more):
      // the dev server speaks for the page, so it presents the gateway's origin.
      '/socket': { target: gateway, changeOrigin: true, ws: true, headers: { origin: gateway } },
    },
  },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap },
});
