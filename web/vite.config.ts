// Builds the operator UI into web/dist, served by Flotilla under /ui/ (src/web/ui.ts).
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/ui/',
  plugins: [react()],
  logLevel: 'warn',
  build: { outDir: 'dist', emptyOutDir: true, reportCompressedSize: false },
});
