// lib/kernel/iproute.ts without root: BatchError's "exists" and "missing" come from the kernel's
// errno when netlink answered (whatever the text says), and from the text only when an `ip`
// process was the source (it gives no errno); which processes the `ip` path starts (nsenter for a
// pod namespace, one process for a batch of queries when it can); and the standalone's fallback to
// `ip`, which says so on stderr. Processes, the netlink socket and stderr are stand-ins here.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { IpOp } from '../../lib/kernel/ip-ops.ts';
import { BatchError, ipBatch, NetnsUnreachable, query } from '../../lib/kernel/iproute.ts';

const fake = vi.hoisted(() => ({
  netlink: false,
  runs: [] as Array<{ file: string; args: readonly string[]; input?: string }>,
  answer: { code: 0, stdout: '', stderr: '' },
  outcome: { done: true } as Record<string, unknown>,
  warnings: [] as string[],
}));
vi.mock('../../lib/platform/exec.ts', () => ({
  run: async (file: string, args: readonly string[], opts: { input?: string } = {}) => {
    fake.runs.push({ file, args, input: opts.input });
    return fake.answer;
  },
}));
vi.mock('../../lib/platform/output.ts', async (importOriginal) => ({
  ...(await importOriginal<object>()),
  warn: (line: string) => fake.warnings.push(line),
}));
vi.mock('../../lib/kernel/netlink.ts', async (importOriginal) => ({
  ...(await importOriginal<object>()),
  available: () => fake.netlink,
  socketFor: () => 3,
}));
vi.mock('../../lib/kernel/netlink-ip.ts', () => ({
  runBatch: () => fake.outcome,
  answer: () => [],
}));

beforeEach(() => {
  fake.netlink = false;
  fake.runs.length = 0;
  fake.answer = { code: 0, stdout: '', stderr: '' };
  fake.outcome = { done: true };
  fake.warnings.length = 0;
});

const UP: IpOp = { kind: 'link-set', dev: 'eth0', up: true };
const ADDR: IpOp = { kind: 'addr', verb: 'add', cidr: '10.0.0.2/24', dev: 'eth0' };

const EPERM = 1;
const ENOENT = 2;
const ESRCH = 3;
const EEXIST = 17;
const ENODEV = 19;
const EADDRNOTAVAIL = 99;

describe('BatchError from netlink (errno)', () => {
  it.each([
    [EEXIST, true, false],
    [ENODEV, false, true],
    [ESRCH, false, true],
    [ENOENT, false, true],
    [EPERM, false, false],
    [EADDRNOTAVAIL, false, false],
  ])('errno %i: exists %s, missing %s', (errno, exists, missing) => {
    const e = new BatchError('link add eth0 type veth peer name v0', 'RTNETLINK answers: something', errno);
    expect(e.errno).toBe(errno);
    expect(e.exists).toBe(exists);
    expect(e.missing).toBe(missing);
  });

  it('decides by errno, not by a text that says otherwise', () => {
    expect(new BatchError('l', 'RTNETLINK answers: File exists', EPERM).exists).toBe(false);
    expect(new BatchError('l', 'Cannot find device "x"', EPERM).missing).toBe(false);
    expect(new BatchError('l', 'no words the regex knows', EEXIST).exists).toBe(true);
  });

  it('names the failed line and the first error line in its message', () => {
    const e = new BatchError('addr add 10.0.0.1/24 dev eth0', 'RTNETLINK answers: File exists', EEXIST);
    expect(e.message).toBe('ip addr add 10.0.0.1/24 dev eth0: RTNETLINK answers: File exists');
  });
});

describe('BatchError from an ip process (text)', () => {
  it.each([
    ['RTNETLINK answers: File exists\nCommand failed -:1', true, false],
    ['Cannot find device "veth0"\nCommand failed -:2', false, true],
    ['RTNETLINK answers: No such process', false, true],
    ['RTNETLINK answers: No such device', false, true],
    ['Device "x" does not exist.', false, true],
    ['RTNETLINK answers: Operation not permitted', false, false],
  ])('%j: exists %s, missing %s', (stderr, exists, missing) => {
    const e = new BatchError('line', stderr);
    expect(e.errno).toBeUndefined();
    expect(e.exists).toBe(exists);
    expect(e.missing).toBe(missing);
  });

  it('leaves "Command failed" out of its message', () => {
    expect(new BatchError('link del v0', 'Command failed -:1\nCannot find device "v0"').message).toBe(
      'ip link del v0: Cannot find device "v0"',
    );
  });
});

describe('ipBatch through ip (Node build)', () => {
  it('runs the host side as one ip -batch with the lines of the operations', async () => {
    await ipBatch({}, [UP, ADDR]);
    expect(fake.runs).toEqual([{ file: 'ip', args: ['-batch', '-'], input: 'link set eth0 up\naddr add 10.0.0.2/24 dev eth0\n' }]);
  });

  it('enters a pod namespace by its path with nsenter', async () => {
    await ipBatch({ netns: '/proc/42/ns/net' }, [UP]);
    expect(fake.runs.map((r) => [r.file, ...r.args])).toEqual([['nsenter', '--net=/proc/42/ns/net', '--', 'ip', '-batch', '-']]);
  });

  it('names the failing line, without an errno', async () => {
    fake.answer = { code: 1, stdout: '', stderr: 'RTNETLINK answers: File exists\nCommand failed -:2\n' };
    const e = await ipBatch({}, [UP, ADDR]).catch((x) => x);
    expect(e).toBeInstanceOf(BatchError);
    expect(e.failedLine).toBe('addr add 10.0.0.2/24 dev eth0');
    expect(e.errno).toBeUndefined();
    expect(e.exists).toBe(true);
  });

  it('tells a namespace nsenter cannot enter from a failed line', async () => {
    fake.answer = { code: 1, stdout: '', stderr: 'nsenter: cannot open /proc/42/ns/net: No such file or directory\n' };
    await expect(ipBatch({ netns: '/proc/42/ns/net' }, [UP])).rejects.toBeInstanceOf(NetnsUnreachable);
  });
});

describe('ipBatch over netlink (standalone build)', () => {
  it('spawns nothing and says nothing when every operation is sent', async () => {
    fake.netlink = true;
    await ipBatch({ netns: '/proc/42/ns/net' }, [UP, ADDR]);
    expect(fake.runs).toEqual([]);
    expect(fake.warnings).toEqual([]);
  });

  it('keeps the kernel errno of the failed operation', async () => {
    fake.netlink = true;
    fake.outcome = { failed: 1, errno: 17, text: 'RTNETLINK answers: File exists' };
    const e = await ipBatch({}, [UP, ADDR]).catch((x) => x);
    expect(e).toBeInstanceOf(BatchError);
    expect(e.failedLine).toBe('addr add 10.0.0.2/24 dev eth0');
    expect(e.errno).toBe(17);
  });

  it('hands an operation it cannot encode to ip, and says so on stderr', async () => {
    fake.netlink = true;
    fake.outcome = { unencodable: 1, why: 'address "x"' };
    await ipBatch({}, [UP, ADDR]);
    expect(fake.warnings).toEqual([
      expect.stringMatching(/netlink cannot send "addr add 10.0.0.2\/24 dev eth0" \(address "x"\); running the batch with ip/),
    ]);
    expect(fake.runs.map((r) => r.file)).toEqual(['ip']);
  });
});

describe('query through ip (Node build)', () => {
  it('asks queries without a device or a family in one ip -json -batch', async () => {
    fake.answer = { code: 0, stdout: '[{"ifindex":1,"ifname":"lo"}]\n[{"dst":"default"}]\n', stderr: '' };
    const [links, routes] = await query({ netns: '/run/netns/p' }, [
      { kind: 'links', addresses: true },
      { kind: 'routes', table: 'all' },
    ]);
    expect(links[0]!.ifname).toBe('lo');
    expect(routes[0]!.dst).toBe('default');
    expect(fake.runs).toEqual([
      {
        file: 'nsenter',
        args: ['--net=/run/netns/p', '--', 'ip', '-json', '-details', '-batch', '-'],
        input: 'addr show\nroute show table all\n',
      },
    ]);
  });

  it('asks a query with a family in a process of its own (ip -batch takes no -4/-6 per line)', async () => {
    fake.answer = { code: 0, stdout: '[]', stderr: '' };
    await query({}, [
      { kind: 'routes', family: 4, table: 'main' },
      { kind: 'routes', family: 6, table: 'main' },
    ]);
    expect(fake.runs.map((r) => r.args)).toEqual([
      ['-json', '-details', '-4', 'route', 'show', 'table', 'main'],
      ['-json', '-details', '-6', 'route', 'show', 'table', 'main'],
    ]);
  });

  it('answers [] for a device that does not exist', async () => {
    fake.answer = { code: 1, stdout: '', stderr: 'Device "br9" does not exist.\n' };
    expect(await query({}, [{ kind: 'links', dev: 'br9' }])).toEqual([[]]);
  });
});
