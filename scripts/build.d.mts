// Types of scripts/build.mjs for the TypeScript tests.
export const PLUGINS: string[];
export function esbuildPlugins(): { schemas: Promise<unknown>; plugins: unknown[] };
