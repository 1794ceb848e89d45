// The modules scripts/schemas.mjs generates at build time: zod's compiled parser of one schema
// listed in plugins/schemas.ts, imported as `cni-ts:compiled/<name>` (see lib/cni/config.ts).
declare module 'cni-ts:compiled/*' {
  /** The parsed input, or INVALID when zod's runtime must look at it; undefined when running from source (tests). */
  export const parse: ((input: unknown) => unknown) | undefined;
  export const INVALID: symbol;
}
