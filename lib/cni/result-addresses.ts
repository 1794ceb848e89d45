// The addresses of a result document, checked with lib/net/address.ts (ip-num) once its shape is
// known (lib/cni/result-parse.ts): every address has a prefix, every gateway is an address, every
// route destination is a CIDR. A failure is code 6, naming the key.
import { parseCidr, parseIP } from '../net/address.ts';
import { CniError, ErrorCode } from './errors.ts';
import type { RawLegacyResult, RawResult, RawResultRoute } from './result-schema.ts';

function bad(what: string): never {
  throw new CniError(ErrorCode.DecodingFailure, `invalid result: ${what}`);
}

const present = (v: string | null | undefined): v is string => v !== undefined && v !== null && v !== '';

function checkCidr(value: string, where: string, what: string): void {
  if (!parseCidr(value)) bad(`${where} "${value}" is not ${what}`);
}

function checkGateway(value: string | null | undefined, where: string): void {
  if (present(value) && !parseIP(value)) bad(`${where} "${value}" is not an IP address`);
}

function checkRoutes(routes: RawResultRoute[] | null | undefined, where: string): void {
  (routes ?? []).forEach((r, i) => {
    checkCidr(r.dst, `${where}[${i}].dst`, 'a CIDR');
    checkGateway(r.gw, `${where}[${i}].gw`);
  });
}

/** 0.3.0 and later: ips[].address/gateway, routes[].dst/gw. */
export function checkAddresses(raw: RawResult): void {
  (raw.ips ?? []).forEach((ip, i) => {
    checkCidr(ip.address, `ips[${i}].address`, 'an address with a prefix');
    checkGateway(ip.gateway, `ips[${i}].gateway`);
  });
  checkRoutes(raw.routes, 'routes');
}

/** 0.1.0 and 0.2.0: ip4/ip6 .ip, .gateway and .routes. */
export function checkLegacyAddresses(raw: RawLegacyResult): void {
  for (const fam of ['ip4', 'ip6'] as const) {
    const block = raw[fam];
    if (block === undefined || block === null) continue;
    checkCidr(block.ip, `${fam}.ip`, 'an address with a prefix');
    checkGateway(block.gateway, `${fam}.gateway`);
    checkRoutes(block.routes, `${fam}.routes`);
  }
}
