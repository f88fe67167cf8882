import { defineConfig } from 'vitest/config'

// `npm run dev` proxies the API and the WebSocket to a Tandem on :8000 (`make run`).
const backend = process.env.TANDEM_BACKEND ?? 'http://127.0.0.1:8000'

export default defineConfig({
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      '/api': backend,
      '/ws': { target: backend.replace(/^http/, 'ws'), ws: true },
    },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
})
