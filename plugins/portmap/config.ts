// portmap network configuration: every key of the reference plugin (README "portmap"), validated
// up front so a bad config changes nothing, and the pod addresses the rules are for (prevResult).
import { prevResultOf } from '../../lib/cni/attachments.ts';
import { configError } from '../../lib/cni/config.ts';
import type { Request } from '../../lib/cni/dispatch.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import type { Result } from '../../lib/cni/types.ts';
import type { FirewallBackend } from '../../lib/firewall/driver.ts';
import { type HostportWant, type PortMapping, PROTOCOLS, type Protocol } from '../../lib/firewall/portmap-want.ts';
import { type Cidr, type Family, formatIP, parseCidr, parseIP } from '../../lib/net/address.ts';
import { parseRawPortmapConfig, type RawPortmapConfig } from './raw-config.ts';
import type { RawPortMapping } from './schema.ts';

export interface PortmapConfig {
  network: string;
  /** `backend`, or the one the backend-specific keys imply; undefined = chosen on the host. */
  backend?: FirewallBackend;
  /** What the firewall drivers are asked for. */
  want: HostportWant;
  /** prevResult, passed through unchanged on ADD. */
  prevResult: Result;
}

const DEFAULT_MARK_BIT = 13;
/** An iptables chain name: at most 28 characters, none a shell or iptables-restore would read specially. */
const CHAIN_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:+@-]{0,27}$/;

function mappingOf(m: RawPortMapping, i: number): PortMapping {
  const key = `runtimeConfig.portMappings[${i}]`;
  const protocol = m.protocol.toLowerCase() as Protocol;
  if (!PROTOCOLS.includes(protocol)) {
    throw configError(
      `${key}.protocol`,
      m.protocol,
      `expected one of ${PROTOCOLS.map((p) => `"${p}"`).join(', ')}`,
      ErrorCode.UnsupportedField,
    );
  }
  const out: PortMapping = { hostPort: m.hostPort, containerPort: m.containerPort, protocol };
  if (m.hostIP) {
    const ip = parseIP(m.hostIP);
    if (!ip) throw configError(`${key}.hostIP`, m.hostIP, 'not an IP address');
    out.hostFamily = ip.family;
    // An unspecified address (0.0.0.0, ::) only selects the family, as in the reference.
    const text = formatIP(ip);
    if (text !== '0.0.0.0' && text !== '::') out.hostIP = text;
  }
  return out;
}

const MAPPING_KEYS = ['hostPort', 'containerPort', 'protocol', 'hostIP'];

/**
 * The mappings with their keys spelled as ours. Go's encoding/json matches keys case-insensitively,
 * and runtimes rely on it: containerd (go-cni) sends `{"HostPort":…,"ContainerPort":…,"Protocol":…,
 * "HostIP":…}`. An exact spelling wins over another one, as in Go.
 */
function withCanonicalKeys(config: Record<string, unknown>): Record<string, unknown> {
  const rc = config.runtimeConfig as { portMappings?: unknown } | undefined;
  if (!rc || typeof rc !== 'object' || !Array.isArray(rc.portMappings)) return config;
  const portMappings = rc.portMappings.map((m) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return m;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(m)) {
      const canonical = MAPPING_KEYS.find((c) => c.toLowerCase() === k.toLowerCase()) ?? k;
      if (canonical === k || !Object.hasOwn(m, canonical)) out[canonical] = v;
    }
    return out;
  });
  return { ...config, runtimeConfig: { ...rc, portMappings } };
}

/** Which backend conditions written for it belong to: iptables arguments start with "-" or "!". */
const conditionsBackend = (list: string[] | undefined): FirewallBackend | undefined =>
  list?.[0] ? (/^[-!]/.test(list[0]) ? 'iptables' : 'nftables') : undefined;

function checkConditions(key: string, list: string[], backend: FirewallBackend): void {
  list.forEach((c, i) => {
    if (c === '') throw configError(`${key}[${i}]`, c, 'empty condition');
    // One argument of an iptables-restore line, or words of an nft rule: nothing that ends or comments the line.
    const bad = backend === 'iptables' ? /\p{Cc}/u : /[;#\p{Cc}]/u;
    if (bad.test(c)) throw configError(`${key}[${i}]`, c, `not usable in an ${backend} rule`);
  });
}

/**
 * The backend the keys ask for: `backend` itself, else the one that backend-specific keys
 * (externalSetMarkChain: iptables; conditions by their form) belong to. Keys for the other backend
 * than the one asked for are an error, as in the reference; without `backend` the reference
 * chooses the host's default and fails, we follow the keys.
 */
function backendOf(raw: RawPortmapConfig): FirewallBackend | undefined {
  const implied: Array<[string, FirewallBackend]> = [];
  if (raw.externalSetMarkChain) implied.push(['externalSetMarkChain', 'iptables']);
  for (const key of ['conditionsV4', 'conditionsV6'] as const) {
    const b = conditionsBackend(raw[key]);
    if (b) implied.push([key, b]);
  }
  const wanted = raw.backend ?? implied[0]?.[1];
  const conflicting = implied.filter(([, b]) => b !== wanted).map(([k]) => k);
  if (wanted && conflicting.length) {
    const other = wanted === 'iptables' ? 'nftables' : 'iptables';
    const how = raw.backend ? 'was requested' : `is implied by ${implied.filter(([, b]) => b === wanted).map(([k]) => k)}`;
    throw new CniError(
      ErrorCode.InvalidConfig,
      `invalid config: ${wanted} backend ${how} but configuration contains ${other}-specific options [${conflicting.join(' ')}]`,
    );
  }
  return wanted;
}

/**
 * The pod's addresses (reference rule): in prevResult's order the first IPv4 and the first IPv6,
 * skipping an address whose interface entry names another interface or a host-side one.
 */
export function podAddresses(prev: Result, ifname: string): Partial<Record<Family, Cidr>> {
  const out: Partial<Record<Family, Cidr>> = {};
  const interfaces = prev.interfaces ?? [];
  for (const ip of prev.ips ?? []) {
    const idx = ip.interface;
    if (idx !== undefined && idx < interfaces.length) {
      const intf = interfaces[idx]!;
      if (intf.name !== ifname || !intf.sandbox) continue;
    }
    const cidr = parseCidr(ip.address);
    if (cidr && !out[cidr.ip.family]) out[cidr.ip.family] = cidr;
  }
  return out;
}

/**
 * The config of an ADD or CHECK (`prevResult` required). Everything is validated here, before
 * anything is changed.
 */
export async function loadPortmapConfig(req: Request): Promise<PortmapConfig> {
  const raw = await parseRawPortmapConfig(withCanonicalKeys(req.config));
  if (raw.markMasqBit !== undefined && raw.externalSetMarkChain !== undefined) {
    throw new CniError(ErrorCode.InvalidConfig, 'invalid config: "markMasqBit" and "externalSetMarkChain" cannot both be set');
  }
  if (raw.externalSetMarkChain !== undefined && !CHAIN_RE.test(raw.externalSetMarkChain)) {
    throw configError('externalSetMarkChain', raw.externalSetMarkChain, 'not an iptables chain name (1-28 of [A-Za-z0-9_.:+@-])');
  }
  const backend = backendOf(raw);
  for (const key of ['conditionsV4', 'conditionsV6'] as const) {
    const list = raw[key] ?? [];
    checkConditions(key, list, conditionsBackend(list) ?? backend ?? 'iptables');
  }
  const mappings = (raw.runtimeConfig?.portMappings ?? []).map(mappingOf);
  if (req.config.prevResult === undefined || req.config.prevResult === null) {
    throw new CniError(ErrorCode.InvalidConfig, req.command === 'ADD' ? 'must be called as chained plugin' : 'Required prevResult missing');
  }
  const prevResult = (await prevResultOf(req))!;
  return {
    network: raw.name,
    backend,
    prevResult,
    want: {
      mappings,
      pod: podAddresses(prevResult, req.env.ifname),
      snat: raw.snat ?? true,
      masqAll: raw.masqAll ?? false,
      mark: 2 ** (raw.markMasqBit ?? DEFAULT_MARK_BIT),
      externalSetMarkChain: raw.externalSetMarkChain,
      conditions: { 4: raw.conditionsV4 ?? [], 6: raw.conditionsV6 ?? [] },
    },
  };
}
