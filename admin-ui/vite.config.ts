import { defineConfig } from 'vite';

// A static app served by the worker's [assets] at /. Preact through esbuild's
// automatic JSX runtime (no Babel). Everything is bundled: no request leaves
// the edge's origin at run time (public/_headers pins that with a CSP).
export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: true,
    assetsInlineLimit: 0,
  },
});
