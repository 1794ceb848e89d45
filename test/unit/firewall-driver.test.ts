// lib/firewall/driver.ts: the read-plan-apply retry and the every-backend DEL/GC/CHECK helpers.
import { describe, expect, it } from 'vitest';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import {
  type Attachment,
  checkWithBackend,
  type FirewallDriver,
  type FirewallDrivers,
  gcEveryBackend,
  readPlanApply,
  teardownEveryBackend,
} from '../../lib/firewall/driver.ts';
import { errorOf } from '../helpers/cni-error.ts';

describe('readPlanApply', () => {
  it('reads, plans and applies once when the write succeeds', async () => {
    const applied: number[] = [];
    await readPlanApply({ read: async () => 1, plan: (s) => s + 1, apply: async (p) => void applied.push(p) });
    expect(applied).toEqual([2]);
  });

  it('does not write when the plan is null', async () => {
    let writes = 0;
    await readPlanApply({ read: async () => 0, plan: () => null, apply: async () => void writes++ });
    expect(writes).toBe(0);
  });

  it('reads and plans again after a failed write, from the new state', async () => {
    let state = 0;
    const planned: number[] = [];
    await readPlanApply({
      read: async () => state++,
      plan: (s) => {
        planned.push(s);
        return s;
      },
      apply: async (p) => {
        if (p === 0) throw new Error('handle vanished');
      },
    });
    expect(planned).toEqual([0, 1]);
  });

  it('gives up after `tries` failed writes with the last error', async () => {
    let n = 0;
    const attempt = readPlanApply({
      read: async () => 0,
      plan: () => 0,
      apply: async () => {
        n += 1;
        throw new Error(`write ${n}`);
      },
      tries: 3,
    });
    await expect(attempt).rejects.toThrow('write 3');
  });
});

function recordingDriver(log: string[], name: string, opts: { fail?: boolean; missing?: string[] } = {}): FirewallDriver<number> {
  const act = async (what: string) => {
    log.push(`${name} ${what}`);
    if (opts.fail) throw new CniError(ErrorCode.FirewallFailed, `${name} ${what} failed`);
  };
  return {
    setup: (_a, want) => act(`setup ${want}`),
    teardown: (attachment) => act(`teardown ${attachment.containerID}`),
    gc: (network, valid) => act(`gc ${network} ${valid.map((v) => v.containerID).join(',')}`),
    missing: async () => opts.missing ?? [],
  };
}

const a: Attachment = { network: 'net', containerID: 'c1', ifname: 'eth0' };

describe('every-backend helpers', () => {
  it('DEL and GC run every backend', async () => {
    const log: string[] = [];
    const drivers: FirewallDrivers<number> = { iptables: recordingDriver(log, 'ipt'), nftables: recordingDriver(log, 'nft') };
    await teardownEveryBackend(drivers, 'x teardown', a);
    await gcEveryBackend(drivers, 'x GC', 'net', [{ containerID: 'c2', ifname: 'eth0' }]);
    expect(log.sort()).toEqual(['ipt gc net c2', 'ipt teardown c1', 'nft gc net c2', 'nft teardown c1']);
  });

  it('one failing backend does not stop the other; its error is reported as is', async () => {
    const log: string[] = [];
    const drivers: FirewallDrivers<number> = {
      iptables: recordingDriver(log, 'ipt', { fail: true }),
      nftables: recordingDriver(log, 'nft'),
    };
    await expect(teardownEveryBackend(drivers, 'x teardown', a)).rejects.toThrow('ipt teardown c1 failed');
    expect(log.sort()).toEqual(['ipt teardown c1', 'nft teardown c1']);
  });

  it('two failing backends become one error naming both', async () => {
    const drivers: FirewallDrivers<number> = {
      iptables: recordingDriver([], 'ipt', { fail: true }),
      nftables: recordingDriver([], 'nft', { fail: true }),
    };
    const e = await errorOf(() => teardownEveryBackend(drivers, 'x teardown', a));
    expect(e.code).toBe(ErrorCode.FirewallFailed);
    expect(e.message).toBe('x teardown: ipt teardown c1 failed; nft teardown c1 failed');
  });

  it('CHECK asks only the chosen backend and names what is missing', async () => {
    const drivers: FirewallDrivers<number> = {
      iptables: recordingDriver([], 'ipt', { missing: ['chain CNI-x'] }),
      nftables: recordingDriver([], 'nft', { missing: [] }),
    };
    await expect(checkWithBackend(drivers, 'nftables', 'thing', a, 1)).resolves.toBeUndefined();
    const e = await errorOf(() => checkWithBackend(drivers, 'iptables', 'thing', a, 1));
    expect(e.code).toBe(ErrorCode.CheckFailed);
    expect(e.message).toBe('thing for c1/eth0 incomplete: missing chain CNI-x');
  });
});
