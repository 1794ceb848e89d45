// A result document of any supported version (a delegated IPAM plugin's output, a runtime's
// prevResult) read into the internal 1.1.0 model. Its shape is checked by the zod schemas of
// lib/cni/result-schema.ts (through their build-time compiled parsers, see lib/cni/config.ts),
// its addresses by lib/cni/result-addresses.ts (ip-num), loaded only when they are checked.
import { parse as compiledLegacyResult, INVALID } from 'cni-ts:compiled/legacyResultSchema';
import { parse as compiledResult } from 'cni-ts:compiled/resultSchema';
import { issueError } from './config.ts';
import { CniError, ErrorCode } from './errors.ts';
import { compactDns } from './result-format.ts';
import type { RawLegacyResult, RawResult, RawResultRoute } from './result-schema.ts';
import type { DNS, Interface, IPConfig, Result, Route } from './types.ts';
import { isSupportedVersion, resultShapeOf } from './version.ts';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The value of a zod-parsed optional field: null and (for text) "" mean absent, as in Go. */
const present = <T>(v: T | null | undefined): v is T => v !== undefined && v !== null && (v as unknown) !== '';

/** Shape-check `raw` with a schema's compiled parser, or zod's runtime (which names the key) when it fails. */
async function parseShape<T>(
  raw: unknown,
  compiled: ((input: unknown) => unknown) | undefined,
  schema: () => Promise<{ safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: unknown[] } } }>,
): Promise<T> {
  if (compiled) {
    const parsed = compiled(raw);
    if (parsed !== INVALID) return parsed as T;
  }
  const r = (await schema()).safeParse(raw);
  if (r.success) return r.data;
  throw issueError(r.error.issues[0] as Parameters<typeof issueError>[0], raw, 'result key', ErrorCode.DecodingFailure);
}

function route(r: RawResultRoute): Route {
  const out: Route = { dst: r.dst };
  if (present(r.gw)) out.gw = r.gw;
  for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
    const n = r[k];
    if (present(n)) out[k] = n;
  }
  return out;
}

function dnsOf(d: RawResult['dns']): DNS | undefined {
  if (!present(d)) return undefined;
  return compactDns({
    nameservers: d.nameservers ?? undefined,
    domain: d.domain ?? undefined,
    search: d.search ?? undefined,
    options: d.options ?? undefined,
  });
}

function fromLegacy(raw: RawLegacyResult): Result {
  const out: Result = { cniVersion: '1.1.0' };
  const ips: IPConfig[] = [];
  const routes: Route[] = [];
  for (const block of [raw.ip4, raw.ip6]) {
    if (!present(block)) continue;
    ips.push(present(block.gateway) ? { address: block.ip, gateway: block.gateway } : { address: block.ip });
    routes.push(...(block.routes ?? []).map((r) => (present(r.gw) ? { dst: r.dst, gw: r.gw } : { dst: r.dst })));
  }
  if (ips.length) out.ips = ips;
  if (routes.length) out.routes = routes;
  return out;
}

function fromCurrent(raw: RawResult): Result {
  const out: Result = { cniVersion: '1.1.0' };
  if (present(raw.interfaces)) {
    out.interfaces = raw.interfaces.map((x) => {
      const i: Interface = { name: x.name };
      for (const k of ['mac', 'sandbox', 'socketPath', 'pciID'] as const) {
        const v = x[k];
        if (present(v)) i[k] = v;
      }
      if (present(x.mtu)) i.mtu = x.mtu;
      return i;
    });
  }
  if (present(raw.ips)) {
    out.ips = raw.ips.map((x) => {
      const c: IPConfig = { address: x.address };
      if (present(x.gateway)) c.gateway = x.gateway;
      if (present(x.interface)) c.interface = x.interface;
      return c;
    });
  }
  if (present(raw.routes)) out.routes = raw.routes.map(route);
  return out;
}

/**
 * Parse a result of any supported version into the internal model. A result without cniVersion
 * takes `fallbackVersion` (libcni does the same for prevResult). `checkAddresses: false` skips
 * the address checks (and ip-num): for a DEL, which only names interfaces and rules from it.
 */
export async function parseResult(raw: unknown, fallbackVersion: string, opts: { checkAddresses?: boolean } = {}): Promise<Result> {
  if (!isObject(raw)) throw new CniError(ErrorCode.DecodingFailure, 'invalid result: not a JSON object');
  const version = typeof raw.cniVersion === 'string' && raw.cniVersion !== '' ? raw.cniVersion : fallbackVersion;
  if (!isSupportedVersion(version)) {
    throw new CniError(ErrorCode.IncompatibleVersion, `unsupported result version "${version}"`);
  }
  let result: Result;
  let dns: RawResult['dns'];
  if (resultShapeOf(version) === 'legacy') {
    const legacy = await parseShape<RawLegacyResult>(raw, compiledLegacyResult, () =>
      import('./result-schema.ts').then((m) => m.legacyResultSchema),
    );
    if (opts.checkAddresses !== false) (await import('./result-addresses.ts')).checkLegacyAddresses(legacy);
    result = fromLegacy(legacy);
    dns = legacy.dns;
  } else {
    const current = await parseShape<RawResult>(raw, compiledResult, () => import('./result-schema.ts').then((m) => m.resultSchema));
    if (opts.checkAddresses !== false) (await import('./result-addresses.ts')).checkAddresses(current);
    result = fromCurrent(current);
    dns = current.dns;
  }
  const d = dnsOf(dns);
  if (d) result.dns = d;
  return result;
}
