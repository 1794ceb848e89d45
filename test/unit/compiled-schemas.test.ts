// zod's compiled parsers as the build generates them (scripts/schemas.mjs) against zod's own
// runtime parse of the same schema: for the example configs, results, and thousands of seeded
// mutations of them, the compiled parser accepts exactly what zod accepts and returns the same
// value. The plugins rely on this: a config the compiled parser accepts never reaches zod.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledParserSource, type LoadedSchemas, loadSchemas } from '../../scripts/schemas.mjs';
import { countFromEnv, fuzzCase, Rand, seedFromEnv } from '../helpers/fuzz.ts';
import { ROOT } from '../helpers/kernel.ts';

type Json = Record<string, any>;
type Parser = (input: unknown) => unknown;
interface ZodSchema {
  safeParse(input: unknown): { success: boolean; data?: unknown };
}

let zod: LoadedSchemas;
const dir = mkdtempSync(join(tmpdir(), 'cnits-compiled-'));
const compiled = new Map<string, { parse: Parser; INVALID: symbol }>();

beforeAll(async () => {
  zod = await loadSchemas(ROOT);
  for (const name of Object.keys(zod.schemas)) {
    const file = join(dir, `${name}.mjs`);
    writeFileSync(file, compiledParserSource(zod, name));
    compiled.set(name, await import(pathToFileURL(file).href));
  }
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lists: Json[] = readdirSync(join(ROOT, 'conflist'))
  .filter((f) => f.endsWith('.conflist'))
  .map((f) => JSON.parse(readFileSync(join(ROOT, 'conflist', f), 'utf8')));
const pluginConfigs = (type: string): Json[] =>
  lists.flatMap((l) => l.plugins.filter((p: Json) => p.type === type).map((p: Json) => ({ cniVersion: l.cniVersion, name: l.name, ...p })));

const everything = {
  cniVersion: '1.1.0',
  cniVersions: ['1.0.0', '1.1.0'],
  name: 'n',
  dns: { nameservers: ['10.0.0.10'], domain: 'd', search: ['a'], options: ['ndots:5'] },
  capabilities: { ips: true, mac: true },
  runtimeConfig: {
    ips: ['10.1.0.9/24'],
    mac: '02:00:00:00:00:01',
    ipRanges: [[{ subnet: '10.2.0.0/24', gateway: '10.2.0.1' }]],
    portMappings: [],
  },
  args: { cni: { ips: ['10.1.0.9'], mac: '02:00:00:00:00:01' }, other: 1 },
  prevResult: { cniVersion: '1.1.0', ips: [] },
  'cni.dev/valid-attachments': [{ containerID: 'c', ifname: 'eth0' }],
};
const BASES: Record<string, Json[]> = {
  bridgeConfigSchema: [
    ...pluginConfigs('bridge'),
    {
      ...everything,
      type: 'bridge',
      bridge: 'br0',
      mtu: 9000,
      vlan: 5,
      vlanTrunk: [{ id: 7 }, { minID: 1, maxID: 3 }],
      ipMasqBackend: 'nftables',
    },
  ],
  ptpConfigSchema: [...pluginConfigs('ptp'), { ...everything, type: 'ptp', proxyArp: true, hostVethPrefix: 'cali', ipam: { type: 'x' } }],
  hostLocalConfigSchema: [
    ...[...pluginConfigs('bridge'), ...pluginConfigs('ptp')].filter((c) => c.ipam?.type === 'host-local'),
    { ...everything, ipam: { type: 'host-local', subnet: '10.1.0.0/24', rangeStart: null, gateway: '', dataDir: '/d', resolvConf: '/r' } },
  ],
  portmapConfigSchema: [
    ...pluginConfigs('portmap'),
    {
      ...everything,
      type: 'portmap',
      snat: false,
      markMasqBit: 13,
      conditionsV4: ['-d', '10.0.0.1'],
      masqAll: true,
      backend: 'iptables',
      runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 8080, protocol: 'tcp', hostIP: '0.0.0.0' }] },
    },
  ],
  baseConfigSchema: [everything],
  resultSchema: [
    {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', mac: 'aa', mtu: 1500, sandbox: '/s', socketPath: '', pciID: null }],
      ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0, version: '4' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', priority: 5, table: 0, scope: 0 }],
      dns: { nameservers: ['1.1.1.1'] },
    },
  ],
  legacyResultSchema: [
    { cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/8', gateway: '10.0.0.1', routes: [{ dst: '0.0.0.0/0' }] }, ip6: null, dns: {} },
  ],
};

const seed = seedFromEnv();
const count = countFromEnv('CNI_TS_COMPILED_CASES', 250);
const ctx = {
  env: { CNI_COMMAND: 'ADD' },
  netns: { own: '/proc/self/ns/net', regularFile: '/etc/hostname', missing: '/nonexistent' },
  sandbox: dir,
  nulInEnv: false,
  huge: false,
};

const preview = (v: unknown): string => {
  try {
    return JSON.stringify(v).slice(0, 300);
  } catch {
    return '(too deep to print)';
  }
};

/** The mutated configs a seeded fuzzer derives from `base` (those that are still JSON). */
function mutations(r: Rand, base: Json, n: number): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    try {
      out.push(JSON.parse(fuzzCase(r, base, ctx).stdin.toString()));
    } catch {
      /* byte-level mutations that are no longer JSON: nothing to parse */
    }
  }
  return out;
}

describe(`compiled parsers agree with zod (seed ${seed}, CNI_TS_FUZZ_SEED replays)`, () => {
  it.each(Object.keys(BASES))('%s', (name) => {
    const { parse, INVALID } = compiled.get(name)!;
    const schema = zod.schemas[name] as ZodSchema;
    const r = new Rand(seed);
    let valid = 0;
    let invalid = 0;
    for (const base of BASES[name]!) {
      expect(parse(base)).not.toBe(INVALID);
      for (const input of [base, ...mutations(r, base, count)]) {
        const fast = parse(input);
        const slow = schema.safeParse(input);
        if ((fast === INVALID) !== !slow.success) expect.fail(`${name} disagrees with zod on ${preview(input)}`);
        if (slow.success) {
          expect(fast).toEqual(slow.data);
          valid++;
        } else invalid++;
      }
    }
    // the mutations must exercise both answers
    expect(valid).toBeGreaterThan(BASES[name]!.length);
    expect(invalid).toBeGreaterThan(10);
  });
});
