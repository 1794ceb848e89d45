// Lossless-where-possible conversion between the internal 1.1.0 result model and every spec
// version's JSON shape (following the Go library's conversion algorithm).

import { familyOfAddress, parseCidr, parseIP, parseIPOrCidr } from '../net/address.ts';
import { CniError, ErrorCode } from './errors.ts';
import type { DNS, Interface, IPConfig, Result, Route } from './types.ts';
import { compareVersions, isSupportedVersion, resultShapeOf } from './version.ts';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(what: string): never {
  throw new CniError(ErrorCode.DecodingFailure, `invalid result: ${what}`);
}

function str(o: Json, key: string, where: string, required = false): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || (v === '' && !required)) {
    if (required) bad(`${where}.${key} is required`);
    return undefined;
  }
  if (typeof v !== 'string') bad(`${where}.${key} must be a string`);
  return v;
}

function int(o: Json, key: string, where: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) bad(`${where}.${key} must be an integer`);
  return v;
}

function strList(o: Json, key: string, where: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) bad(`${where}.${key} must be a list of strings`);
  return v as string[];
}

function parseDns(v: unknown): DNS | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) bad('dns must be an object');
  return compactDns({
    nameservers: strList(v, 'nameservers', 'dns'),
    domain: str(v, 'domain', 'dns'),
    search: strList(v, 'search', 'dns'),
    options: strList(v, 'options', 'dns'),
  });
}

/** Drop empty DNS fields; undefined when nothing is left (Go omits an empty dns). */
export function compactDns(d: DNS | undefined): DNS | undefined {
  if (!d) return undefined;
  const out: DNS = {};
  if (d.nameservers?.length) out.nameservers = [...d.nameservers];
  if (d.domain) out.domain = d.domain;
  if (d.search?.length) out.search = [...d.search];
  if (d.options?.length) out.options = [...d.options];
  return Object.keys(out).length ? out : undefined;
}

function parseRoute(v: unknown, where: string): Route {
  if (!isObject(v)) bad(`${where} must be an object`);
  const dst = str(v, 'dst', where, true)!;
  if (!parseCidr(dst)) bad(`${where}.dst "${dst}" is not a CIDR`);
  const r: Route = { dst };
  const gw = str(v, 'gw', where);
  if (gw !== undefined) {
    if (!parseIP(gw)) bad(`${where}.gw "${gw}" is not an IP address`);
    r.gw = gw;
  }
  for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
    const n = int(v, k, where);
    if (n !== undefined) r[k] = n;
  }
  return r;
}

function parseRoutes(v: unknown, where: string): Route[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) bad(`${where} must be a list`);
  return v.map((r, i) => parseRoute(r, `${where}[${i}]`));
}

function parseIPConfig(v: unknown, where: string): IPConfig {
  if (!isObject(v)) bad(`${where} must be an object`);
  const address = str(v, 'address', where, true)!;
  if (!parseCidr(address)) bad(`${where}.address "${address}" is not an address with a prefix`);
  const c: IPConfig = { address };
  const gw = str(v, 'gateway', where);
  if (gw !== undefined) {
    if (!parseIP(gw)) bad(`${where}.gateway "${gw}" is not an IP address`);
    c.gateway = gw;
  }
  const idx = int(v, 'interface', where);
  if (idx !== undefined) {
    if (idx < 0) bad(`${where}.interface must not be negative`);
    c.interface = idx;
  }
  return c;
}

function parseInterface(v: unknown, where: string): Interface {
  if (!isObject(v)) bad(`${where} must be an object`);
  const i: Interface = { name: str(v, 'name', where, true)! };
  for (const k of ['mac', 'sandbox', 'socketPath', 'pciID'] as const) {
    const s = str(v, k, where);
    if (s !== undefined) i[k] = s;
  }
  const mtu = int(v, 'mtu', where);
  if (mtu !== undefined) i.mtu = mtu;
  return i;
}

/**
 * Parse a result of any supported version into the internal model.
 * A result without cniVersion takes `fallbackVersion` (libcni does the same for prevResult).
 */
export function parseResult(raw: unknown, fallbackVersion: string): Result {
  if (!isObject(raw)) bad('not a JSON object');
  const version = typeof raw.cniVersion === 'string' && raw.cniVersion !== '' ? raw.cniVersion : fallbackVersion;
  if (!isSupportedVersion(version)) {
    throw new CniError(ErrorCode.IncompatibleVersion, `unsupported result version "${version}"`);
  }
  const out: Result = { cniVersion: '1.1.0' };
  if (resultShapeOf(version) === 'legacy') {
    const ips: IPConfig[] = [];
    const routes: Route[] = [];
    for (const fam of ['ip4', 'ip6'] as const) {
      const block = raw[fam];
      if (block === undefined || block === null) continue;
      if (!isObject(block)) bad(`${fam} must be an object`);
      const ip = str(block, 'ip', fam, true)!;
      if (!parseCidr(ip)) bad(`${fam}.ip "${ip}" is not an address with a prefix`);
      const c: IPConfig = { address: ip };
      const gw = str(block, 'gateway', fam);
      if (gw !== undefined) {
        if (!parseIP(gw)) bad(`${fam}.gateway "${gw}" is not an IP address`);
        c.gateway = gw;
      }
      ips.push(c);
      routes.push(...(parseRoutes(block.routes, `${fam}.routes`) ?? []).map((r) => ({ dst: r.dst, ...(r.gw ? { gw: r.gw } : {}) })));
    }
    if (ips.length) out.ips = ips;
    if (routes.length) out.routes = routes;
  } else {
    if (raw.interfaces !== undefined && raw.interfaces !== null) {
      if (!Array.isArray(raw.interfaces)) bad('interfaces must be a list');
      out.interfaces = raw.interfaces.map((x, i) => parseInterface(x, `interfaces[${i}]`));
    }
    if (raw.ips !== undefined && raw.ips !== null) {
      if (!Array.isArray(raw.ips)) bad('ips must be a list');
      out.ips = raw.ips.map((x, i) => parseIPConfig(x, `ips[${i}]`));
    }
    const routes = parseRoutes(raw.routes, 'routes');
    if (routes) out.routes = routes;
  }
  const dns = parseDns(raw.dns);
  if (dns) out.dns = dns;
  return out;
}

const familyOf = (address: string): '4' | '6' => (familyOfAddress(address) === 6 ? '6' : '4');

/** Render the internal result as exactly the JSON shape of `version`. */
export function formatResult(result: Result, version: string): Json {
  const shape = resultShapeOf(version);
  const dns = compactDns(result.dns);
  if (shape === 'legacy') {
    const out: Json = { cniVersion: version };
    for (const fam of ['4', '6'] as const) {
      const first = (result.ips ?? []).find((ip) => familyOf(ip.address) === fam);
      if (!first) continue;
      const block: Json = { ip: first.address };
      if (first.gateway) block.gateway = first.gateway;
      const routes = (result.routes ?? [])
        .filter((r) => familyOf(r.dst) === fam)
        .map((r) => (r.gw ? { dst: r.dst, gw: r.gw } : { dst: r.dst }));
      if (routes.length) block.routes = routes;
      out[fam === '4' ? 'ip4' : 'ip6'] = block;
    }
    if (!out.ip4 && !out.ip6) {
      throw new CniError(ErrorCode.IncompatibleVersion, `cannot convert result to version ${version}: no IP addresses`);
    }
    if (dns) out.dns = dns;
    return out;
  }
  const is11 = compareVersions(version, '1.1.0') >= 0;
  const out: Json = { cniVersion: version };
  if (result.interfaces?.length) {
    out.interfaces = result.interfaces.map((i) => {
      const o: Json = { name: i.name };
      if (i.mac) o.mac = i.mac;
      if (is11 && i.mtu !== undefined) o.mtu = i.mtu;
      if (i.sandbox) o.sandbox = i.sandbox;
      if (is11 && i.socketPath) o.socketPath = i.socketPath;
      if (is11 && i.pciID) o.pciID = i.pciID;
      return o;
    });
  }
  if (result.ips?.length) {
    out.ips = result.ips.map((ip) => {
      const o: Json = shape === 'current' ? { version: familyOf(ip.address) } : {};
      // Address before interface/gateway, as Go prints it; order is cosmetic.
      if (ip.interface !== undefined) o.interface = ip.interface;
      o.address = ip.address;
      if (ip.gateway) o.gateway = ip.gateway;
      return o;
    });
  }
  if (result.routes?.length) {
    out.routes = result.routes.map((r) => {
      const o: Json = { dst: r.dst };
      if (r.gw) o.gw = r.gw;
      if (is11) for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) if (r[k] !== undefined) o[k] = r[k];
      return o;
    });
  }
  if (dns) out.dns = dns;
  return out;
}

/** Convenience: re-parse an address string to check a result's consistency in tests and CHECK. */
export const addressOf = (cidr: string) => parseIPOrCidr(cidr)?.ip;
