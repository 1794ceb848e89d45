// ptp config validation and the routed mode's deterministic host veth names.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Request } from '../../lib/cni/dispatch.ts';
import { ErrorCode } from '../../lib/cni/errors.ts';
import { loadPtpConfig, routedHostVethName } from '../../plugins/ptp/config.ts';
import { errorOf } from '../helpers/cni-error.ts';

const req = (config: Record<string, unknown>) =>
  ({ config: { cniVersion: '1.0.0', name: 'n', type: 'ptp', ...config }, cniArgs: new Map() }) as unknown as Request;

describe('loadPtpConfig', () => {
  it('defaults to the reference mode', async () => {
    const c = await loadPtpConfig(req({ ipam: { type: 'host-local' } }));
    expect(c).toMatchObject({ mode: 'reference', ipMasq: false, mtu: undefined, ipamType: 'host-local', hostVethPrefix: 'ptp' });
  });
  it('proxyArp selects the routed mode; mtu 0 means the kernel default', async () => {
    const c = await loadPtpConfig(req({ ipam: { type: 'host-local' }, proxyArp: true, mtu: 0, hostVethPrefix: 'pod' }));
    expect(c).toMatchObject({ mode: 'routed', mtu: undefined, hostVethPrefix: 'pod' });
    expect((await loadPtpConfig(req({ ipam: { type: 'x' }, mtu: 1400 }))).mtu).toBe(1400);
  });
  it("accepts kind's conflist entry unchanged", async () => {
    const c = await loadPtpConfig(
      req({
        cniVersion: '0.3.1',
        ipMasq: false,
        ipam: {
          type: 'host-local',
          dataDir: '/run/cni-ipam-state',
          routes: [{ dst: '0.0.0.0/0' }],
          ranges: [[{ subnet: '10.244.0.0/24' }]],
        },
        mtu: 1500,
      }),
    );
    expect(c).toMatchObject({ mode: 'reference', mtu: 1500, ipMasq: false });
  });
  it.each([
    ['missing ipam', {}, ErrorCode.InvalidConfig],
    ['ipam without type', { ipam: {} }, ErrorCode.InvalidConfig],
    ['string bool', { ipam: { type: 'x' }, proxyArp: 'true' }, ErrorCode.InvalidConfig],
    ['negative mtu', { ipam: { type: 'x' }, mtu: -1 }, ErrorCode.InvalidConfig],
    ['unknown masq backend', { ipam: { type: 'x' }, ipMasqBackend: 'pf' }, ErrorCode.UnsupportedField],
    ['prefix too long', { ipam: { type: 'x' }, hostVethPrefix: 'abcdefghijkl' }, ErrorCode.InvalidConfig],
    ['prefix with a space', { ipam: { type: 'x' }, hostVethPrefix: 'a b' }, ErrorCode.InvalidConfig],
    ['empty prefix', { ipam: { type: 'x' }, hostVethPrefix: '' }, ErrorCode.InvalidConfig],
  ])('rejects %s', async (_what, config, code) => {
    expect((await errorOf(() => loadPtpConfig(req(config)))).code).toBe(code);
  });
});

describe('routedHostVethName', () => {
  const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
  it('hashes namespace.pod like Calico, cut to 15 bytes', async () => {
    const args = new Map([
      ['K8S_POD_NAMESPACE', 'default'],
      ['K8S_POD_NAME', 'web-0'],
    ]);
    const name = routedHostVethName('cali', 'c1', args);
    expect(name).toBe(`cali${sha1('default.web-0').slice(0, 11)}`);
    expect(name).toHaveLength(15);
    // Same pod, another sandbox: same name.
    expect(routedHostVethName('cali', 'c2', args)).toBe(name);
  });
  it('falls back to the container ID without Kubernetes args', async () => {
    expect(routedHostVethName('ptp', 'abc', new Map())).toBe(`ptp${sha1('abc').slice(0, 12)}`);
    expect(routedHostVethName('ptp', 'abc', new Map([['K8S_POD_NAME', 'only-name']]))).toBe(`ptp${sha1('abc').slice(0, 12)}`);
    expect(routedHostVethName('ptp', 'abd', new Map())).not.toBe(routedHostVethName('ptp', 'abc', new Map()));
  });
});
