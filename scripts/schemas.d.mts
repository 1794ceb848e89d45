// Types of scripts/schemas.mjs for the TypeScript tests.
export const COMPILED_PREFIX: string;
/** plugins/schemas.ts bundled for Node and imported, with the zod internals the build drives. */
export interface LoadedSchemas {
  schemas: Record<string, unknown>;
}
export function loadSchemas(root: string): Promise<LoadedSchemas>;
export function compiledParserSource(zod: LoadedSchemas, name: string): string;
export function jsonSchemas(zod: LoadedSchemas): Record<string, Record<string, any>>;
export function compiledSchemasPlugin(root: string, zod: Promise<LoadedSchemas>): unknown;
