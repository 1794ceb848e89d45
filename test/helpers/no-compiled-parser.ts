// What `cni-ts:compiled/<name>` resolves to when the code runs from source (vitest.config.ts): no
// compiled parser, so lib/cni/config.ts parses with zod's runtime. The compiled parsers themselves
// are tested against zod's runtime in test/unit/compiled-schemas.test.ts and run in the built plugins.
export const parse: ((input: unknown) => unknown) | undefined = undefined;
export const INVALID = Symbol.for('zod.compile.invalid');
