import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig, version as viteVersion, type PluginOption } from 'vite';

// The gateway serves the API and the socket on :4000 (and the built app itself, from web/dist);
// in development Vite serves the app and forwards both, so the app always talks to its own origin.
// GATEWAY_URL points the development server at a gateway elsewhere.
const gateway = process.env.GATEWAY_URL ?? 'http://localhost:4000';

/**
 * @vitejs/plugin-react picks its code path from the `vite` *it* resolves. When that is another
 * major than the Vite running this config (the workspace hoists Vite 8 for vitest while web/ has
 * Vite 7), its dev transform breaks ("Missing field `moduleType`"). Then we go without it: the
 * TSX still compiles (esbuild, `jsx: react-jsx` from tsconfig), only Fast Refresh is lost.
 */
function reactPlugin(): PluginOption {
  const major = (v: string) => v.split('.')[0];
  try {
    const pluginPath = fileURLToPath(import.meta.resolve('@vitejs/plugin-react'));
    const pluginVite = (createRequire(pluginPath)('vite/package.json') as { version: string }).version;
    if (major(pluginVite) === major(viteVersion)) return react();
    console.warn(
      `[web] @vitejs/plugin-react sees Vite ${pluginVite} but Vite ${viteVersion} is running: building without it (no Fast Refresh). ` +
        'Give web/ the same Vite major as the workspace root to get it back.',
    );
  } catch {
    return react();
  }
  return [];
}

export default defineConfig({
  plugins: [reactPlugin()],
  esbuild: { jsx: 'automatic' },
  server: {
    proxy: {
      '/api': { target: gateway, changeOrigin: true },
      '/socket': { target: gateway, changeOrigin: true, ws: true },
    },
  },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
});
