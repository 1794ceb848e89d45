// host-local's config as a zod schema: the `ipam` section of the calling plugin's network config
// (README "host-local"). The TypeScript type, the build-time compiled parser and
// dist/schema/host-local.json come from it.
import * as z from 'zod/mini';
import { baseConfigShape, rangeSchema, routeSchema } from '../lib/cni/config-schema.ts';

// Go decodes JSON null and "" in an IP field to "absent"; so do we.
const optionalText = z.nullish(z.string());

export const hostLocalIpamSchema = z.looseObject({
  type: z.optional(z.string()),
  subnet: optionalText,
  rangeStart: optionalText,
  rangeEnd: optionalText,
  gateway: optionalText,
  ranges: z.nullish(z.array(z.array(rangeSchema))),
  routes: z.nullish(z.array(routeSchema)),
  dataDir: optionalText,
  resolvConf: optionalText,
});

export const hostLocalConfigSchema = z.looseObject({ ...baseConfigShape, ipam: hostLocalIpamSchema });

export type RawHostLocalConfig = z.infer<typeof hostLocalConfigSchema>;
