// The JSON Schemas the build writes to dist/schema/ (scripts/schemas.mjs, from the zod schemas):
// every example in conflist/ passes them, and broken configs fail where they are broken. Checked
// with ajv, a JSON Schema validator as editors run one.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { jsonSchemas, loadSchemas } from '../../scripts/schemas.mjs';
import { ROOT } from '../helpers/kernel.ts';

type Json = Record<string, any>;
let schemas: Record<string, Json>;
const ajv = new Ajv2020({ allErrors: true, strict: false });
function validator(file: string) {
  if (!ajv.getSchema(file)) ajv.addSchema(schemas[file]!, file);
  return ajv.getSchema(file)!;
}

beforeAll(async () => {
  schemas = jsonSchemas(await loadSchemas(ROOT));
}, 60_000);

const CONFLISTS = readdirSync(join(ROOT, 'conflist')).filter((f) => f.endsWith('.conflist'));
const example = (file: string): Json => JSON.parse(readFileSync(join(ROOT, 'conflist', file), 'utf8'));
/** The error locations of `doc` against `file` (empty when valid). */
function errorsOf(file: string, doc: unknown): string[] {
  const validate = validator(file);
  return validate(doc) ? [] : (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath} ${e.message}`);
}

describe('JSON Schemas of the network configs', () => {
  it('are written for each plugin, host-local, a .conf and a .conflist', () => {
    expect(Object.keys(schemas).sort()).toEqual([
      'bridge.json',
      'conflist.json',
      'host-local.json',
      'loopback.json',
      'netconf.json',
      'portmap.json',
      'ptp.json',
    ]);
    expect(schemas['bridge.json']!.properties.mtu).toMatchObject({ type: 'integer', minimum: 0, maximum: 65535 });
    expect(schemas['bridge.json']!.properties.isGateway.description).toMatch(/gateway/);
  });

  it.each(CONFLISTS)('conflist/%s is valid', (file) => {
    expect(CONFLISTS.length).toBeGreaterThan(3);
    expect(errorsOf('conflist.json', example(file))).toEqual([]);
  });

  it.each(CONFLISTS)('each of our plugins in conflist/%s, written as a .conf, is valid', (file) => {
    const list = example(file);
    for (const plugin of list.plugins.filter((p: Json) => ['bridge', 'ptp', 'portmap', 'loopback'].includes(p.type))) {
      const conf = { cniVersion: list.cniVersion, name: list.name, ...plugin };
      expect(errorsOf('netconf.json', conf)).toEqual([]);
      expect(errorsOf(`${plugin.type}.json`, conf)).toEqual([]);
    }
  });

  it('a broken conflist fails at the broken key', () => {
    const broken = example('10-containerd-bridge.conflist');
    broken.plugins[0].mtu = 'big';
    broken.plugins[0].ipMasqBackend = 'pf';
    broken.plugins[0].ipam.ranges[0][0].subnet = 24;
    const errors = errorsOf('conflist.json', broken);
    expect(errors).toEqual(
      expect.arrayContaining([
        '/plugins/0/mtu must be integer',
        '/plugins/0/ipMasqBackend must be equal to one of the allowed values',
        '/plugins/0/ipam/ranges/0/0/subnet must be string',
      ]),
    );
  });

  it('plugins are told apart by type: a key of ptp is checked as ptp, another plugin only needs a type', () => {
    const list = example('30-ptp-kind.conflist');
    list.plugins[0].proxyArp = 'yes';
    expect(errorsOf('conflist.json', list)).toContain('/plugins/0/proxyArp must be boolean');
    // the same key on a bridge item is an unknown key (kept, as runtimes add their own)
    expect(errorsOf('conflist.json', { name: 'n', plugins: [{ type: 'bridge', proxyArp: 'yes' }] })).toEqual([]);
    expect(errorsOf('conflist.json', { name: 'n', plugins: [{ type: 'tuning', sysctl: { a: 1 } }] })).toEqual([]);
    expect(errorsOf('conflist.json', { name: 'n', plugins: [{ sysctl: {} }] })).toEqual(["/plugins/0 must have required property 'type'"]);
    expect(errorsOf('conflist.json', { plugins: [] })).toEqual(
      expect.arrayContaining(['/plugins must NOT have fewer than 1 items', " must have required property 'name'"]),
    );
  });

  it("host-local's keys are checked in an ipam section of type host-local only", () => {
    const conf = { cniVersion: '1.0.0', name: 'n', type: 'bridge', ipam: { type: 'host-local', dataDir: 5 } };
    expect(errorsOf('bridge.json', conf)).toContain('/ipam/dataDir must be string,null');
    expect(errorsOf('bridge.json', { ...conf, ipam: { type: 'dhcp', dataDir: 5 } })).toEqual([]);
    expect(errorsOf('host-local.json', { name: 'n' })).toEqual([" must have required property 'ipam'"]);
  });
});
