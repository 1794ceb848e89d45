// lib/cni/dispatch.ts driven with a fake plugin and a fake environment: every protocol check the
// core makes before a plugin runs, the version gates, VERSION, and the one-document output rule.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { dispatch, type Outcome, type Plugin, type Request } from '../../lib/cni/dispatch.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import { formatResult } from '../../lib/cni/result-format.ts';
import type { Result } from '../../lib/cni/types.ts';
import { SUPPORTED_VERSIONS } from '../../lib/cni/version.ts';

// A network namespace the unprivileged test process can "open": paths under /fake-netns/ are
// reported as a foreign namespace; everything else goes to the real inspection.
vi.mock('../../lib/kernel/netns.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../lib/kernel/netns.ts')>();
  return { ...real, inspectNetns: (path: string) => (path.startsWith('/fake-netns/') ? 'ok' : real.inspectNetns(path)) };
});
const NETNS_OK = '/fake-netns/pod1';

const RESULT: Result = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', mac: '0a:58:0a:01:00:05', mtu: 1450, sandbox: '/var/run/netns/x' }],
  ips: [
    { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 },
    { address: 'fd00::5/64', interface: 0 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1', priority: 3 }],
  dns: { nameservers: ['10.1.0.53'] },
};

type Handler = (req: Request) => Promise<unknown>;

/** A plugin that records its calls; each handler can be replaced per test. */
function fakePlugin(handlers: Partial<Record<'add' | 'del' | 'check' | 'gc' | 'status', Handler>> = {}) {
  const calls: Request[] = [];
  const wrap = (name: keyof typeof handlers, fallback: unknown) => async (req: Request) => {
    calls.push(req);
    const h = handlers[name];
    return h ? h(req) : fallback;
  };
  const plugin = {
    name: 'fake',
    add: wrap('add', RESULT),
    del: wrap('del', undefined),
    check: wrap('check', undefined),
    gc: wrap('gc', undefined),
    status: wrap('status', undefined),
  } as Plugin;
  return { plugin, calls };
}

const NETNS_MISSING = '/var/run/netns/cni-ts-test-does-not-exist';

function envFor(command: string | undefined, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: 'c0ffee',
    CNI_NETNS: command === 'ADD' || command === 'CHECK' || command === 'DEL' ? NETNS_MISSING : '',
    CNI_IFNAME: 'eth0',
    CNI_ARGS: '',
    CNI_PATH: '/opt/cni/bin',
    ...extra,
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return env as NodeJS.ProcessEnv;
}

const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: 'net1', type: 'fake', ...extra });
const stdinOf = (config: unknown) => () => Buffer.from(typeof config === 'string' ? config : JSON.stringify(config));

/** Exactly one JSON document on stdout (or none), never a stack trace. */
function parseOutcome(o: Outcome): any {
  expect(o.stdout).not.toMatch(/\n\s+at /);
  expect(o.stdout).not.toMatch(/\.ts:\d+|\.js:\d+/);
  if (o.stdout === '') return undefined;
  return JSON.parse(o.stdout); // throws on two documents or trailing text
}

async function expectError(o: Promise<Outcome>, code: number, msgPart?: string | RegExp): Promise<any> {
  const out = await o;
  expect(out.exitCode).not.toBe(0);
  const json = parseOutcome(out);
  expect(json).toMatchObject({ code });
  expect(typeof json.msg).toBe('string');
  expect(typeof json.cniVersion).toBe('string');
  expect(Object.keys(json).every((k) => ['cniVersion', 'code', 'msg', 'details'].includes(k))).toBe(true);
  if (json.details !== undefined) expect(typeof json.details).toBe('string');
  if (msgPart) expect(json.msg).toMatch(msgPart);
  return json;
}

// Diagnostics go through lib/platform/output.ts's warn (synchronous writes to fd 2).
const stderr = vi.hoisted(() => ({ mock: { calls: [] as unknown[][] } }));
vi.mock('../../lib/platform/output.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../lib/platform/output.ts')>();
  return { ...real, warn: (...args: unknown[]) => void stderr.mock.calls.push(args) };
});
beforeEach(() => {
  stderr.mock.calls.length = 0;
});
afterEach(() => {
  stderr.mock.calls.length = 0;
});

describe('CNI_COMMAND', () => {
  it('missing → code 4 naming CNI_COMMAND (not a usage text)', async () => {
    const { plugin, calls } = fakePlugin();
    await expectError(dispatch(plugin, envFor(undefined), stdinOf(conf())), 4, /CNI_COMMAND/);
    await expectError(dispatch(plugin, envFor(''), stdinOf(conf())), 4, /CNI_COMMAND/);
    expect(calls).toHaveLength(0);
  });

  it.each(['add', 'Add', 'DELETE', 'FOO', 'ADD '])('unknown %j → code 4', async (cmd) => {
    const { plugin, calls } = fakePlugin();
    await expectError(dispatch(plugin, envFor(cmd), stdinOf(conf())), 4, /CNI_COMMAND/);
    expect(calls).toHaveLength(0);
  });

  it('does not echo an unbounded command string', async () => {
    const { plugin } = fakePlugin();
    const json = await expectError(dispatch(plugin, envFor('X'.repeat(10_000)), stdinOf(conf())), 4);
    expect(json.msg.length).toBeLessThan(200);
  });
});

describe('VERSION', () => {
  it.each(SUPPORTED_VERSIONS.map((v) => [v]))('echoes requested %s with the full supported list', async (v) => {
    const { plugin, calls } = fakePlugin();
    const out = await dispatch(plugin, { CNI_COMMAND: 'VERSION' }, stdinOf({ cniVersion: v }));
    expect(out.exitCode).toBe(0);
    expect(parseOutcome(out)).toEqual({ cniVersion: v, supportedVersions: [...SUPPORTED_VERSIONS] });
    expect(calls).toHaveLength(0);
  });

  it.each([
    ['empty stdin', ''],
    ['bad JSON', '{'],
    ['no cniVersion', '{}'],
    ['unsupported version', '{"cniVersion":"9.9.9"}'],
    ['non-string version', '{"cniVersion":1}'],
    ['not UTF-8', Buffer.from([0xff, 0xfe, 0x7b])],
  ])('%s → 1.1.0, success (VERSION ignores its input)', async (_what, input) => {
    const { plugin } = fakePlugin();
    const read = typeof input === 'string' ? stdinOf(input) : () => input;
    const out = await dispatch(plugin, { CNI_COMMAND: 'VERSION' }, read);
    expect(out.exitCode).toBe(0);
    expect(parseOutcome(out)).toEqual({ cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
  });

  it('needs no other variable and survives an unreadable stdin', async () => {
    const { plugin } = fakePlugin();
    const out = await dispatch(plugin, { CNI_COMMAND: 'VERSION' }, () => {
      throw new Error('EIO');
    });
    expect(out.exitCode).toBe(0);
    expect(parseOutcome(out).cniVersion).toBe('1.1.0');
  });
});

describe('required environment per command', () => {
  const required: Record<string, string[]> = {
    ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
    DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
    CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
    GC: ['CNI_PATH'],
  };
  for (const [command, vars] of Object.entries(required)) {
    for (const v of vars) {
      it(`${command} without ${v} → code 4 naming it, plugin not called`, async () => {
        const { plugin, calls } = fakePlugin();
        await expectError(dispatch(plugin, envFor(command, { [v]: undefined }), stdinOf(conf())), 4, new RegExp(v));
        await expectError(dispatch(plugin, envFor(command, { [v]: '' }), stdinOf(conf())), 4, new RegExp(v));
        expect(calls).toHaveLength(0);
      });
    }
  }

  it('ADD with nothing but CNI_COMMAND lists every missing variable', async () => {
    const { plugin } = fakePlugin();
    await expectError(
      dispatch(plugin, { CNI_COMMAND: 'ADD' }, stdinOf(conf())),
      4,
      'required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing',
    );
  });

  it('STATUS needs nothing but CNI_COMMAND; GC runs with empty container variables (libcni sends them empty)', async () => {
    const { plugin, calls } = fakePlugin();
    expect((await dispatch(plugin, { CNI_COMMAND: 'STATUS' }, stdinOf(conf()))).exitCode).toBe(0);
    const gc = await dispatch(plugin, envFor('GC', { CNI_CONTAINERID: '', CNI_IFNAME: '', CNI_NETNS: '' }), stdinOf(conf()));
    expect(gc.exitCode).toBe(0);
    expect(calls.map((c) => c.command)).toEqual(['STATUS', 'GC']);
  });

  it('DEL without CNI_NETNS reaches the plugin with netnsState "none"', async () => {
    const { plugin, calls } = fakePlugin();
    const out = await dispatch(plugin, envFor('DEL', { CNI_NETNS: undefined }), stdinOf(conf()));
    expect(out).toEqual({ stdout: '', exitCode: 0 });
    expect(calls[0]!.netnsState).toBe('none');
  });

  it('invalid container id or interface name → code 4', async () => {
    const { plugin, calls } = fakePlugin();
    await expectError(dispatch(plugin, envFor('ADD', { CNI_CONTAINERID: '../x' }), stdinOf(conf())), 4, /CNI_CONTAINERID/);
    await expectError(dispatch(plugin, envFor('DEL', { CNI_IFNAME: 'a'.repeat(16) }), stdinOf(conf())), 4, /CNI_IFNAME/);
    expect(calls).toHaveLength(0);
  });

  it('bad CNI_ARGS → code 4 before the plugin runs', async () => {
    const { plugin, calls } = fakePlugin();
    await expectError(dispatch(plugin, envFor('DEL', { CNI_ARGS: 'FOO=bar' }), stdinOf(conf())), 4, /FOO/);
    await expectError(dispatch(plugin, envFor('DEL', { CNI_ARGS: 'IP=1=2' }), stdinOf(conf())), 4);
    expect(calls).toHaveLength(0);
  });
});

describe('stdin decoding', () => {
  it.each([
    ['empty', '', 6],
    ['bad JSON', '{"name":', 6],
    ['trailing garbage', '{"name":"a"} x', 6],
    ['array', '[]', 6],
    ['string', '"net1"', 6],
    ['null', 'null', 6],
    ['number', '42', 6],
    ['missing name', '{"cniVersion":"1.0.0"}', 7],
    ['empty name', '{"cniVersion":"1.0.0","name":""}', 7],
    ['name with a space', '{"cniVersion":"1.0.0","name":"my net"}', 7],
    ['name starting with "-"', '{"cniVersion":"1.0.0","name":"-net"}', 7],
    ['name with "/"', '{"cniVersion":"1.0.0","name":"a/b"}', 7],
    ['name not a string', '{"cniVersion":"1.0.0","name":7}', 7],
    ['cniVersion not semver', '{"cniVersion":"1.0","name":"n"}', 6],
    ['cniVersion not a string', '{"cniVersion":1,"name":"n"}', 6],
    ['cniVersion unsupported', '{"cniVersion":"9.9.9","name":"n"}', 1],
    ['cniVersion unsupported, older', '{"cniVersion":"0.0.1","name":"n"}', 1],
  ])('%s → code %i, plugin not called', async (_what, input, code) => {
    for (const command of ['ADD', 'DEL', 'GC']) {
      const { plugin, calls } = fakePlugin();
      await expectError(dispatch(plugin, envFor(command), stdinOf(input)), code);
      expect(calls).toHaveLength(0);
    }
  });

  it('not UTF-8 → code 6', async () => {
    const { plugin } = fakePlugin();
    const bytes = Buffer.concat([Buffer.from('{"name":"n'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    await expectError(
      dispatch(plugin, envFor('DEL'), () => bytes),
      6,
      /UTF-8/,
    );
  });

  it('unreadable stdin → code 5', async () => {
    const { plugin } = fakePlugin();
    await expectError(
      dispatch(plugin, envFor('DEL'), () => {
        throw new Error('EIO: i/o error');
      }),
      5,
    );
  });

  it('oversized stdin → code 5', async () => {
    const { plugin } = fakePlugin();
    await expectError(
      dispatch(plugin, envFor('DEL'), () => Buffer.alloc(64 * 1024 * 1024 + 1, 0x20)),
      5,
    );
  });

  it('unsupported version names both sides in details', async () => {
    const { plugin } = fakePlugin();
    const json = await expectError(dispatch(plugin, envFor('DEL'), stdinOf(conf({ cniVersion: '9.9.9' }))), 1, 'incompatible CNI versions');
    expect(json.details).toContain('9.9.9');
    expect(json.details).toContain('1.1.0');
  });

  it('a missing cniVersion means 0.1.0', async () => {
    const { plugin, calls } = fakePlugin();
    const out = await dispatch(plugin, envFor('ADD', { CNI_NETNS: NETNS_OK }), stdinOf({ name: 'n' }));
    expect(parseOutcome(out)).toEqual(formatResult(RESULT, '0.1.0'));
    expect(calls[0]!.version).toBe('0.1.0');
  });

  it('tolerates cniVersions and keeps cniVersion as the version to speak', async () => {
    const { plugin, calls } = fakePlugin();
    const out = await dispatch(
      plugin,
      envFor('ADD', { CNI_NETNS: NETNS_OK }),
      stdinOf(conf({ cniVersion: '1.0.0', cniVersions: ['0.4.0', '1.0.0', '1.1.0'] })),
    );
    expect(parseOutcome(out).cniVersion).toBe('1.0.0');
    expect(calls[0]!.version).toBe('1.0.0');
  });
});

describe('version gates', () => {
  it.each([
    ['CHECK', '0.3.1'],
    ['CHECK', '0.1.0'],
    ['GC', '1.0.0'],
    ['GC', '0.4.0'],
    ['STATUS', '1.0.0'],
  ])('%s with config %s → code 1', async (command, v) => {
    const { plugin, calls } = fakePlugin();
    await expectError(dispatch(plugin, envFor(command), stdinOf(conf({ cniVersion: v }))), 1, new RegExp(command));
    expect(calls).toHaveLength(0);
  });

  it('CHECK without cniVersion (0.1.0) → code 1', async () => {
    const { plugin } = fakePlugin();
    await expectError(dispatch(plugin, envFor('CHECK'), stdinOf({ name: 'n' })), 1);
  });

  it.each([
    ['CHECK', '0.4.0'],
    ['CHECK', '1.0.0'],
    ['GC', '1.1.0'],
    ['STATUS', '1.1.0'],
    ['DEL', '0.1.0'],
  ])('%s with config %s passes the gate', async (command, v) => {
    const { plugin, calls } = fakePlugin();
    // CHECK needs an existing netns; the missing one gives code 3 *after* the gate
    const out = await dispatch(plugin, envFor(command), stdinOf(conf({ cniVersion: v })));
    if (command === 'CHECK') {
      expect(parseOutcome(out).code).toBe(3);
    } else {
      expect(out).toEqual({ stdout: '', exitCode: 0 });
      expect(calls).toHaveLength(1);
    }
  });
});

describe('CNI_NETNS safety', () => {
  it.each(['ADD', 'CHECK', 'DEL'])("%s refuses the plugin's own network namespace before calling the plugin", async (command) => {
    const { plugin, calls } = fakePlugin();
    const json = await expectError(
      dispatch(plugin, envFor(command, { CNI_NETNS: '/proc/self/ns/net' }), stdinOf(conf())),
      4,
      /own network namespace/,
    );
    expect(json.details).toContain(command);
    expect(calls).toHaveLength(0);
  });

  it.each(['ADD', 'CHECK'])('%s refuses a path that is not a network namespace', async (command) => {
    const { plugin, calls } = fakePlugin();
    await expectError(dispatch(plugin, envFor(command, { CNI_NETNS: '/etc/hostname' }), stdinOf(conf())), 4, /not a network namespace/);
    await expectError(dispatch(plugin, envFor(command, { CNI_NETNS: '/tmp' }), stdinOf(conf())), 4, /not a network namespace/);
    expect(calls).toHaveLength(0);
  });

  it.each(['ADD', 'CHECK'])('%s with a missing namespace → code 3 (nothing to clean up)', async (command) => {
    const { plugin, calls } = fakePlugin();
    await expectError(dispatch(plugin, envFor(command), stdinOf(conf())), 3, /does not exist/);
    expect(calls).toHaveLength(0);
  });

  it('DEL on a path that is not a network namespace (a stale, unmounted netns file) is treated as gone', async () => {
    for (const netns of ['/etc/hostname', '/tmp']) {
      const { plugin, calls } = fakePlugin();
      expect(await dispatch(plugin, envFor('DEL', { CNI_NETNS: netns }), stdinOf(conf()))).toEqual({ stdout: '', exitCode: 0 });
      expect(calls[0]!.netnsState).toBe('missing');
    }
  });

  it('DEL with a missing namespace reaches the plugin (it must still release what it holds)', async () => {
    const { plugin, calls } = fakePlugin();
    const out = await dispatch(plugin, envFor('DEL'), stdinOf(conf()));
    expect(out).toEqual({ stdout: '', exitCode: 0 });
    expect(calls[0]!.netnsState).toBe('missing');
  });

  it('GC and STATUS ignore CNI_NETNS', async () => {
    const { plugin, calls } = fakePlugin();
    expect((await dispatch(plugin, envFor('GC', { CNI_NETNS: '/proc/self/ns/net' }), stdinOf(conf()))).exitCode).toBe(0);
    expect((await dispatch(plugin, envFor('STATUS', { CNI_NETNS: '/proc/self/ns/net' }), stdinOf(conf()))).exitCode).toBe(0);
    expect(calls.map((c) => c.netnsState)).toEqual(['none', 'none']);
  });
});

describe('the request the plugin sees', () => {
  it('carries env, version, config, raw stdin, parsed CNI_ARGS and the process env', async () => {
    const { plugin, calls } = fakePlugin();
    const config = conf({ cniVersion: '0.4.0', bridge: 'cni0', ipam: { type: 'host-local' } });
    const env = envFor('DEL', { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web;X=y', CNI_PATH: '/a:/b' });
    await dispatch(plugin, env, stdinOf(config));
    const req = calls[0]!;
    expect(req.command).toBe('DEL');
    expect(req.version).toBe('0.4.0');
    expect(req.config).toEqual(config);
    expect(req.stdin.toString()).toBe(JSON.stringify(config));
    expect(req.env).toMatchObject({ containerID: 'c0ffee', ifname: 'eth0', netns: NETNS_MISSING, path: ['/a', '/b'] });
    expect(Object.fromEntries(req.cniArgs)).toEqual({ IgnoreUnknown: '1', K8S_POD_NAME: 'web', X: 'y' });
    expect(req.processEnv).toBe(env);
  });
});

describe('results and errors on stdout', () => {
  it.each(SUPPORTED_VERSIONS.map((v) => [v]))('ADD prints the result in exactly the requested version %s', async (v) => {
    const { plugin, calls } = fakePlugin();
    const out = await dispatch(plugin, envFor('ADD', { CNI_NETNS: NETNS_OK }), stdinOf(conf({ cniVersion: v })));
    expect(out.exitCode).toBe(0);
    const json = parseOutcome(out);
    expect(json.cniVersion).toBe(v);
    expect(json).toEqual(formatResult(RESULT, v));
    expect(calls[0]!.netnsState).toBe('ok');
  });

  it('CHECK on an existing namespace succeeds silently', async () => {
    const { plugin, calls } = fakePlugin();
    expect(await dispatch(plugin, envFor('CHECK', { CNI_NETNS: NETNS_OK }), stdinOf(conf()))).toEqual({ stdout: '', exitCode: 0 });
    expect(calls).toHaveLength(1);
  });

  it('DEL, CHECK, GC and STATUS print nothing on success', async () => {
    const { plugin } = fakePlugin();
    for (const command of ['DEL', 'GC', 'STATUS']) {
      expect(await dispatch(plugin, envFor(command), stdinOf(conf()))).toEqual({ stdout: '', exitCode: 0 });
    }
  });

  it('a CniError from the plugin is printed as is, with the config version', async () => {
    const { plugin } = fakePlugin({
      del: async () => {
        throw new CniError(ErrorCode.AddressUnavailable, 'requested IP address 10.1.0.9 is not available', 'in use by c1/eth0');
      },
    });
    const out = await dispatch(plugin, envFor('DEL'), stdinOf(conf({ cniVersion: '0.3.1' })));
    expect(out.exitCode).toBe(1);
    expect(parseOutcome(out)).toEqual({
      cniVersion: '0.3.1',
      code: 101,
      msg: 'requested IP address 10.1.0.9 is not available',
      details: 'in use by c1/eth0',
    });
  });

  it('errors before the config is read carry cniVersion 1.1.0', async () => {
    const { plugin } = fakePlugin();
    const out = await dispatch(plugin, { CNI_COMMAND: 'DEL' }, stdinOf(conf({ cniVersion: '0.3.1' })));
    expect(parseOutcome(out).cniVersion).toBe('1.1.0');
  });

  it.each([
    ['an Error with a multi-line message', () => new Error('boom\n    at Object.<anonymous> (/x/y.ts:1:1)')],
    ['a TypeError', () => new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['a string', () => 'just a string'],
    ['undefined', () => undefined],
  ])('a plugin throwing %s → code 999, one line, no stack on stdout, short diagnostic on stderr', async (_what, make) => {
    const { plugin } = fakePlugin({
      gc: async () => {
        throw make();
      },
    });
    const out = await dispatch(plugin, envFor('GC'), stdinOf(conf()));
    const json = await expectError(Promise.resolve(out), 999);
    expect(json.msg).not.toContain('\n');
    expect(json.cniVersion).toBe('1.1.0');
    const written = stderr.mock.calls.map((c) => String(c[0])).join('');
    expect(written).toContain('fake');
    expect(written.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('a CniError writes nothing to stderr (the message is on stdout)', async () => {
    const { plugin } = fakePlugin({
      status: async () => {
        throw new CniError(ErrorCode.NotAvailable, 'no free addresses');
      },
    });
    await expectError(dispatch(plugin, envFor('STATUS'), stdinOf(conf())), 50);
    expect(stderr.mock.calls).toEqual([]);
  });

  it('a result that cannot be expressed in the requested version is an error, not a broken document', async () => {
    const { plugin } = fakePlugin({ add: async () => ({ cniVersion: '1.1.0', interfaces: [{ name: 'eth0' }] }) });
    const out = await dispatch(plugin, envFor('ADD', { CNI_NETNS: NETNS_OK }), stdinOf(conf({ cniVersion: '0.2.0' })));
    const json = await expectError(Promise.resolve(out), ErrorCode.IncompatibleVersion, /no IP addresses/);
    expect(json.cniVersion).toBe('0.2.0');
  });

  it('an ADD whose result cannot be expressed is undone with the plugin DEL; a failing DEL is named in the details', async () => {
    const unprintable = async () => ({ cniVersion: '1.1.0', interfaces: [{ name: 'eth0' }] });
    const ok = fakePlugin({ add: unprintable });
    const quiet = await expectError(
      dispatch(ok.plugin, envFor('ADD', { CNI_NETNS: NETNS_OK }), stdinOf(conf({ cniVersion: '0.2.0' }))),
      ErrorCode.IncompatibleVersion,
    );
    expect(ok.calls.map((c) => c.command)).toEqual(['ADD', 'DEL']);
    expect(quiet.details).toBeUndefined();

    const failing = fakePlugin({
      add: unprintable,
      del: async () => {
        throw new CniError(ErrorCode.KernelCommandFailed, 'link del failed');
      },
    });
    const json = await expectError(
      dispatch(failing.plugin, envFor('ADD', { CNI_NETNS: NETNS_OK }), stdinOf(conf({ cniVersion: '0.2.0' }))),
      ErrorCode.IncompatibleVersion,
      /no IP addresses/,
    );
    expect(json.details).toBe('rollback: attachment: link del failed');
  });
});
