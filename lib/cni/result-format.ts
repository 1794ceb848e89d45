// The internal 1.1.0 result model rendered in every spec version's JSON shape (following the Go
// library's conversion algorithm). Reading a result document is lib/cni/result-parse.ts.

import { CniError, ErrorCode } from './errors.ts';
import type { DNS, Result } from './types.ts';
import { compareVersions, resultShapeOf } from './version.ts';

type Json = Record<string, unknown>;

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

/** The family of an address of an internal result (validated when it was parsed): IPv6 text has a colon, IPv4 text never. */
const familyOf = (address: string): '4' | '6' => (address.includes(':') ? '6' : '4');

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
