import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// RELEASE is baked into the lazy About page, so each release has its own chunk names.
export default defineConfig({
  plugins: [react()],
  define: { __RELEASE__: JSON.stringify(process.env.RELEASE ?? 'dev') },
  logLevel: 'warn',
});
