// Types of scripts/build.mjs for the TypeScript tests.
export const PLUGINS: string[];
