// The result documents the plugins read (a delegated IPAM plugin's result, a runtime's prevResult)
// as zod schemas, one per shape of the specification: 0.1.0/0.2.0 (`ip4`/`ip6`) and 0.3.0 onwards
// (`interfaces`/`ips`/`routes`). null stands for absent, as Go decodes it; keys outside the shape
// are kept. Addresses are checked after the shape (lib/cni/result-parse.ts).
import * as z from 'zod/mini';

const text = z.nullish(z.string());
const int = z.nullish(z.int());
const strings = z.nullish(z.array(z.string()));

export const resultDnsSchema = z.looseObject({ nameservers: strings, domain: text, search: strings, options: strings });

export const resultRouteSchema = z.looseObject({ dst: z.string(), gw: text, mtu: int, advmss: int, priority: int, table: int, scope: int });

export const resultInterfaceSchema = z.looseObject({ name: z.string(), mac: text, mtu: int, sandbox: text, socketPath: text, pciID: text });

export const resultIPConfigSchema = z.looseObject({
  address: z.string(),
  gateway: text,
  interface: z.nullish(z.int().check(z.minimum(0))),
  version: text,
});

/** 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0 (1.1's fields are accepted in every one: Go shares the struct). */
export const resultSchema = z.looseObject({
  cniVersion: text,
  interfaces: z.nullish(z.array(resultInterfaceSchema)),
  ips: z.nullish(z.array(resultIPConfigSchema)),
  routes: z.nullish(z.array(resultRouteSchema)),
  dns: z.nullish(resultDnsSchema),
});

const legacyIPSchema = z.looseObject({ ip: z.string(), gateway: text, routes: z.nullish(z.array(resultRouteSchema)) });

/** 0.1.0 and 0.2.0. */
export const legacyResultSchema = z.looseObject({
  cniVersion: text,
  ip4: z.nullish(legacyIPSchema),
  ip6: z.nullish(legacyIPSchema),
  dns: z.nullish(resultDnsSchema),
});

export type RawResult = z.infer<typeof resultSchema>;
export type RawLegacyResult = z.infer<typeof legacyResultSchema>;
export type RawResultRoute = z.infer<typeof resultRouteSchema>;
