// Every zod schema the plugins parse with, by the name the build knows it by: scripts/schemas.mjs
// compiles each into a parser (imported as `cni-ts:compiled/<name>`) and writes the network
// config schemas as JSON Schema (dist/schema/). Only the build and the error path load this.

export { hostLocalConfigSchema, hostLocalIpamSchema } from '../ipam/schema.ts';
export { baseConfigSchema } from '../lib/cni/config-schema.ts';
export { legacyResultSchema, resultSchema } from '../lib/cni/result-schema.ts';
export { bridgeConfigSchema } from './bridge/schema.ts';
export { portmapConfigSchema } from './portmap/schema.ts';
export { ptpConfigSchema } from './ptp/schema.ts';
