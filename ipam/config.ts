// host-local configuration (every key in README "host-local"): the `ipam` section of the calling plugin's
// config, the `ipRanges`/`ips` capabilities, `args.cni.ips` and CNI_ARGS `IP=`. Everything is
// validated and canonicalised here, once, so the allocator only ever sees consistent ranges.
// Defaults and checks follow the reference's config.go/range.go; every error names its key.

import { parse as compiledHostLocalConfig } from 'cni-ts:compiled/hostLocalConfigSchema';
import { configError, parseConfig, type Validator } from '../lib/cni/config.ts';
import type { RawRange, RawRoute } from '../lib/cni/config-schema.ts';
import { CniError, ErrorCode } from '../lib/cni/errors.ts';
import type { Route } from '../lib/cni/types.ts';
import { versionAtLeast } from '../lib/cni/version.ts';
import {
  bitsOf,
  type Cidr,
  compareIP,
  contains,
  formatCidr,
  formatIP,
  hasHostBits,
  type IP,
  inRange,
  ipEqual,
  lastOf,
  networkOf,
  nextIP,
  parseCidr,
  parseIP,
  parseIPOrCidr,
  previousIP,
} from '../lib/net/address.ts';
import { warn } from '../lib/platform/output.ts';
import type { RawHostLocalConfig } from './schema.ts';
import { checkNetworkName, DEFAULT_DATA_DIR } from './store-location.ts';

/** A canonical range: every field filled in, all inside `subnet`, start <= end. */
export interface Range {
  subnet: Cidr;
  rangeStart: IP;
  rangeEnd: IP;
  gateway: IP;
}

/** One address is allocated per range set; its ranges form one pool of a single family. */
export type RangeSet = Range[];

export interface RequestedIP {
  ip: IP;
  /** Where it came from, for error messages (e.g. `runtimeConfig.ips[0]`). */
  key: string;
}

export interface HostLocalConfig {
  network: string;
  dataDir: string;
  rangeSets: RangeSet[];
  /** requested[i] is the address asked for in range set i, if any. */
  requested: Array<RequestedIP | undefined>;
  routes: Route[];
  resolvConf?: string;
}

const hostLocalConfig: Validator<RawHostLocalConfig> = {
  compiled: compiledHostLocalConfig,
  schema: () => import('./schema.ts').then((m) => m.hostLocalConfigSchema),
};

/** "start-end", the reference's Range.String(), used in exhaustion messages. */
export const rangeToString = (r: Range): string => `${formatIP(r.rangeStart)}-${formatIP(r.rangeEnd)}`;
export const rangeSetToString = (s: RangeSet): string => s.map(rangeToString).join(',');

/** Is `ip` allocatable territory of `r` (inside the subnet and between start and end)? */
export const rangeContains = (r: Range, ip: IP): boolean => inRange(r.rangeStart, r.rangeEnd, ip);

export const rangeFor = (set: RangeSet, ip: IP): Range | undefined => set.find((r) => rangeContains(r, ip));

/** The reference's Range.Overlaps: either range's start or end lies inside the other. */
const rangesOverlap = (a: Range, b: Range): boolean =>
  a.subnet.ip.family === b.subnet.ip.family &&
  (rangeContains(a, b.rangeStart) || rangeContains(a, b.rangeEnd) || rangeContains(b, a.rangeStart) || rangeContains(b, a.rangeEnd));

const text = (v: string | null | undefined): string | undefined => (v === null || v === undefined || v === '' ? undefined : v);

function ipField(key: string, value: string | null | undefined): IP | undefined {
  const s = text(value);
  if (s === undefined) return undefined;
  const ip = parseIP(s);
  if (!ip) throw configError(key, s, 'not an IP address');
  return ip;
}

/** Fill in defaults and validate one range, as the reference's Range.Canonicalize does. */
export function canonicalizeRange(raw: RawRange, key: string): Range {
  const subnetText = text(raw.subnet);
  if (subnetText === undefined) throw configError(`${key}.subnet`, raw.subnet ?? null, 'a subnet is required');
  const subnet = parseCidr(subnetText);
  if (!subnet) throw configError(`${key}.subnet`, subnetText, 'not a CIDR (e.g. "10.1.0.0/24")');
  if (hasHostBits(subnet)) {
    throw configError(
      `${key}.subnet`,
      subnetText,
      `network has host bits set; for a prefix of length ${subnet.prefix} the network address is ${formatIP(networkOf(subnet))}`,
    );
  }
  const bits = bitsOf(subnet.ip.family);
  if (subnet.prefix > bits - 2)
    throw configError(`${key}.subnet`, subnetText, 'network too small to allocate from (needs at least 2 host bits)');

  const inSubnet = (field: string, ip: IP): IP => {
    if (ip.family !== subnet.ip.family)
      throw configError(`${key}.${field}`, formatIP(ip), `not the same address family as subnet ${subnetText}`);
    if (!contains(subnet, ip)) throw configError(`${key}.${field}`, formatIP(ip), `not inside subnet ${subnetText}`);
    return ip;
  };
  const first = nextIP(subnet.ip);
  const gw = ipField(`${key}.gateway`, raw.gateway);
  const gateway = gw ? inSubnet('gateway', gw) : first;
  const start = ipField(`${key}.rangeStart`, raw.rangeStart);
  const rangeStart = start ? inSubnet('rangeStart', start) : first;
  const end = ipField(`${key}.rangeEnd`, raw.rangeEnd);
  // The default end excludes the IPv4 broadcast; the all-ones IPv6 address is a normal address.
  const last = lastOf(subnet);
  const rangeEnd = end ? inSubnet('rangeEnd', end) : subnet.ip.family === 4 ? previousIP(last) : last;
  if (compareIP(rangeEnd, rangeStart) < 0) {
    throw configError(`${key}.rangeEnd`, formatIP(rangeEnd), `before rangeStart ${formatIP(rangeStart)}`);
  }
  return { subnet, rangeStart, rangeEnd, gateway };
}

function canonicalizeSet(raw: RawRange[], key: string): RangeSet {
  if (raw.length === 0) throw configError(key, raw, 'empty range set');
  const set = raw.map((r, j) => canonicalizeRange(r, `${key}[${j}]`));
  const family = set[0]!.subnet.ip.family;
  set.forEach((r, j) => {
    if (r.subnet.ip.family !== family)
      throw configError(`${key}[${j}].subnet`, formatCidr(r.subnet), 'mixed address families in one range set');
  });
  for (let a = 0; a < set.length; a++) {
    for (let b = a + 1; b < set.length; b++) {
      if (rangesOverlap(set[a]!, set[b]!)) {
        throw configError(
          `${key}[${b}]`,
          raw[b],
          `range ${rangeToString(set[b]!)} overlaps range ${rangeToString(set[a]!)} of the same set`,
        );
      }
    }
  }
  return set;
}

const setsOverlap = (a: RangeSet, b: RangeSet): boolean => a.some((r) => b.some((s) => rangesOverlap(r, s)));

/** Requested addresses in the reference's order: CNI_ARGS IP, then args.cni.ips, then runtimeConfig.ips. */
function requestedIPs(raw: RawHostLocalConfig, cniArgs: Map<string, string>): RequestedIP[] {
  const out: RequestedIP[] = [];
  const envIP = cniArgs.get('IP');
  if (envIP !== undefined && envIP !== '') {
    const ip = parseIP(envIP);
    if (!ip) throw configError('CNI_ARGS IP', envIP, 'not an IP address');
    out.push({ ip, key: 'CNI_ARGS IP' });
  }
  (raw.args?.cni?.ips ?? []).forEach((s, i) => {
    const ip = parseIP(s);
    if (!ip) throw configError(`args.cni.ips[${i}]`, s, 'not an IP address');
    out.push({ ip, key: `args.cni.ips[${i}]` });
  });
  // The `ips` capability allows "ip/len"; only the address matters to host-local.
  (raw.runtimeConfig?.ips ?? []).forEach((s, i) => {
    const ip = parseIPOrCidr(s)?.ip;
    if (!ip) throw configError(`runtimeConfig.ips[${i}]`, s, 'not an IP address (or address/prefix)');
    out.push({ ip, key: `runtimeConfig.ips[${i}]` });
  });
  // The same address asked for twice is one request (the reference keys them by text).
  return out.filter((r, i) => out.findIndex((o) => ipEqual(o.ip, r.ip)) === i);
}

function canonicalRoute(r: RawRoute, key: string): Route {
  const dst = parseCidr(r.dst);
  if (!dst) throw configError(`${key}.dst`, r.dst, 'not a CIDR');
  // Go keeps host bits in a route destination and prints addresses canonically.
  const out: Route = { dst: formatCidr(dst) };
  if (r.gw !== undefined && r.gw !== '') {
    const gw = parseIP(r.gw);
    if (!gw) throw configError(`${key}.gw`, r.gw, 'not an IP address');
    out.gw = formatIP(gw);
  }
  for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) if (r[k] !== undefined) out[k] = r[k];
  return out;
}

/**
 * The whole host-local config. `withRequested: false` (CHECK, STATUS) skips the requested
 * addresses: they only matter to ADD, and a stale one must not fail a health check.
 */
export async function parseHostLocalConfig(
  config: Record<string, unknown>,
  cniArgs: Map<string, string>,
  version: string,
  opts: { withRequested?: boolean } = {},
): Promise<HostLocalConfig> {
  if (config.ipam === undefined || config.ipam === null) throw new CniError(ErrorCode.InvalidConfig, `IPAM config missing 'ipam' key`);
  const raw = await parseConfig(hostLocalConfig, config);
  checkNetworkName(raw.name);
  const ipam = raw.ipam;

  const sets: RangeSet[] = [];
  (raw.runtimeConfig?.ipRanges ?? []).forEach((s, i) => {
    sets.push(canonicalizeSet(s, `runtimeConfig.ipRanges[${i}]`));
  });
  if (text(ipam.subnet) !== undefined) {
    // The deprecated single-range form: its keys sit directly in `ipam`.
    const legacy = {
      subnet: ipam.subnet!,
      rangeStart: ipam.rangeStart ?? undefined,
      rangeEnd: ipam.rangeEnd ?? undefined,
      gateway: ipam.gateway ?? undefined,
    };
    sets.push([canonicalizeRange(legacy, 'ipam')]);
  } else if (text(ipam.rangeStart) ?? text(ipam.rangeEnd) ?? text(ipam.gateway)) {
    // The reference silently ignores these without a subnet; keep configs working, but say so.
    warn('host-local: ipam.rangeStart/rangeEnd/gateway ignored: they need ipam.subnet\n');
  }
  (ipam.ranges ?? []).forEach((s, i) => {
    sets.push(canonicalizeSet(s, `ipam.ranges[${i}]`));
  });
  if (sets.length === 0) throw new CniError(ErrorCode.InvalidConfig, 'invalid config key "ipam.ranges": no IP ranges specified');

  for (let a = 0; a < sets.length; a++) {
    for (let b = a + 1; b < sets.length; b++) {
      if (setsOverlap(sets[a]!, sets[b]!)) {
        throw new CniError(
          ErrorCode.InvalidConfig,
          `invalid config: range set ${a} (${rangeSetToString(sets[a]!)}) overlaps with range set ${b} (${rangeSetToString(sets[b]!)})`,
        );
      }
    }
  }
  const perFamily = (f: 4 | 6) => sets.filter((s) => s[0]!.subnet.ip.family === f).length;
  if ((perFamily(4) > 1 || perFamily(6) > 1) && !versionAtLeast(version, '0.3.0')) {
    throw new CniError(ErrorCode.InvalidConfig, `CNI version ${version} does not support more than 1 address per family`);
  }

  const requested: Array<RequestedIP | undefined> = sets.map(() => undefined);
  for (const req of opts.withRequested === false ? [] : requestedIPs(raw, cniArgs)) {
    const i = sets.findIndex((s) => rangeFor(s, req.ip) !== undefined);
    if (i < 0) throw configError(req.key, formatIP(req.ip), `not inside any range (${sets.map(rangeSetToString).join('; ')})`);
    const other = requested[i];
    if (other)
      throw configError(
        req.key,
        formatIP(req.ip),
        `range set ${i} already gets ${formatIP(other.ip)} from ${other.key}; one address per range set`,
      );
    requested[i] = req;
  }

  return {
    network: raw.name,
    dataDir: text(ipam.dataDir) ?? DEFAULT_DATA_DIR,
    rangeSets: sets,
    requested,
    routes: (ipam.routes ?? []).map((r, i) => canonicalRoute(r, `ipam.routes[${i}]`)),
    resolvConf: text(ipam.resolvConf),
  };
}

/** Parse a resolv.conf the way the reference does (dns.go): first field selects, `#`/`;` comment. */
export function parseResolvConf(content: string): { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] } {
  const dns: { nameservers: string[]; domain?: string; search: string[]; options: string[] } = { nameservers: [], search: [], options: [] };
  for (const rawLine of content.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line[0] === '#' || line[0] === ';') continue;
    const fields = line.split(/\s+/);
    if (fields.length < 2) continue;
    switch (fields[0]) {
      case 'nameserver':
        dns.nameservers.push(fields[1]!);
        break;
      case 'domain':
        dns.domain = fields[1]!;
        break;
      case 'search':
        dns.search.push(...fields.slice(1));
        break;
      case 'options':
        dns.options.push(...fields.slice(1));
        break;
    }
  }
  return dns;
}
