import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Generated at build time (scripts/schemas.mjs); from source, zod's runtime parses instead.
    alias: [{ find: /^cni-ts:compiled\/.*$/, replacement: fileURLToPath(new URL('test/helpers/no-compiled-parser.ts', import.meta.url)) }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Integration tests share one kernel and 2 cores: keep files sequential, tests inside parallel-safe.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
