// host-local's config as a zod schema: the `ipam` section of the calling plugin's network config
// (README "host-local"). The TypeScript type, the build-time compiled parser and
// dist/schema/host-local.json come from it.
import * as z from 'zod/mini';
import { baseConfigShape, described, rangeSchema, routeSchema } from '../lib/cni/config-schema.ts';

// Go decodes JSON null and "" in an IP field to "absent"; so do we.
const optionalText = (description: string) => described(z.nullish(z.string()), description);

export const hostLocalIpamSchema = z.looseObject({
  type: described(z.optional(z.string()), 'host-local'),
  subnet: optionalText('single-range form (the first range set): network address with prefix'),
  rangeStart: optionalText('single-range form: first address handed out'),
  rangeEnd: optionalText('single-range form: last address handed out'),
  gateway: optionalText('single-range form: the gateway'),
  ranges: described(z.nullish(z.array(z.array(rangeSchema))), 'range sets: one address from each ([[v4…], [v6…]] = dual stack)'),
  routes: described(z.nullish(z.array(routeSchema)), 'routes returned in the result'),
  dataDir: optionalText('state root (default /var/lib/cni/networks): <dataDir>/<network>/<ip> lease files'),
  resolvConf: optionalText('a resolv.conf whose settings become the result DNS'),
});

export const hostLocalConfigSchema = z.looseObject({ ...baseConfigShape, ipam: hostLocalIpamSchema });

export type RawHostLocalConfig = z.infer<typeof hostLocalConfigSchema>;
