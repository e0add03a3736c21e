import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The gateway serves the API and the socket on :4000 (and the built app itself, from web/dist);
// in development Vite serves the app and forwards both, so the app always talks to its own origin.
// GATEWAY_URL points the development server at a gateway elsewhere.
const gateway = process.env.GATEWAY_URL ?? 'http://localhost:4000';

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api': { target: gateway, changeOrigin: true },
      // The gateway accepts sockets from its own origin only (unless ALLOWED_ORIGINS says more):
      // the dev server speaks for the page, so it presents the gateway's origin.
      '/socket': { target: gateway, changeOrigin: true, ws: true, headers: { origin: gateway } },
    },
  },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
});
