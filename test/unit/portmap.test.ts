// Pure parts of portmap: config validation, the pod-address rule, the iptables plans (checked
// against the reference's rule dumps and hash vectors), the nftables scripts, conntrack messages.
import { describe, expect, it } from 'vitest';
import type { Request } from '../../lib/cni/dispatch.ts';
import { CniError } from '../../lib/cni/errors.ts';
import { deleteRequest, dumpRequest, isStaleUdp, parseEntry } from '../../lib/firewall/conntrack.ts';
import { parseNatSave } from '../../lib/firewall/masquerade-iptables.ts';
import type { NftObject, NftRule } from '../../lib/firewall/nft.ts';
import {
  dnatChainName,
  entryComment,
  legacySnatChainName,
  parseEntryComment,
  planGc,
  planTeardown,
  restoreArg,
} from '../../lib/firewall/portmap-iptables.ts';
import { checkedRules, freshSetupLines, planSetup, sharedChecks } from '../../lib/firewall/portmap-iptables-setup.ts';
import {
  exprFacts,
  planTeardown as planNftTeardown,
  ruleFacts,
  ruleText,
  stepsScript,
  type Views,
  viewOfJson,
} from '../../lib/firewall/portmap-nft.ts';
import { missingRules, planSetup as planNftSetup, ruleExprs } from '../../lib/firewall/portmap-nft-setup.ts';
import type { HostportWant } from '../../lib/firewall/portmap-want.ts';
import { splitMessages } from '../../lib/kernel/netlink-codec.ts';
import { parseCidr } from '../../lib/net/address.ts';
import { loadPortmapConfig, podAddresses } from '../../plugins/portmap/config.ts';

const ID = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const DN = 'CNI-DN-a57a867b11d1e93fb32cd';
const C = `-m comment --comment "dnat name: \\"podman\\" id: \\"${ID}\\""`;

/** The brief's observed example: network podman, pod 10.88.0.5/16 and fd00:88::5/64. */
const want = (over: Partial<HostportWant> = {}): HostportWant => ({
  mappings: [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 5353, containerPort: 53, protocol: 'udp' },
    { hostPort: 8443, containerPort: 443, protocol: 'tcp', hostIP: '10.88.0.1', hostFamily: 4 },
    { hostPort: 9000, containerPort: 90, protocol: 'tcp', hostFamily: 4 },
  ],
  pod: { 4: parseCidr('10.88.0.5/16')!, 6: parseCidr('fd00:88::5/64')! },
  snat: true,
  masqAll: false,
  mark: 0x2000,
  conditions: { 4: [], 6: [] },
  ...over,
});

const EMPTY = parseNatSave('*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n');

/** What Debian's portmap 1.1.1 left in iptables-save -t nat for the example (observed). */
const REFERENCE_V4 = [
  `-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT`,
  `-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT`,
  `-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ`,
  `-A ${DN} -s 10.88.0.0/16 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`,
  `-A ${DN} -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`,
  `-A ${DN} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.88.0.5:80`,
  `-A ${DN} -s 10.88.0.0/16 -p udp -m udp --dport 5353 -j CNI-HOSTPORT-SETMARK`,
  `-A ${DN} -s 127.0.0.1/32 -p udp -m udp --dport 5353 -j CNI-HOSTPORT-SETMARK`,
  `-A ${DN} -p udp -m udp --dport 5353 -j DNAT --to-destination 10.88.0.5:53`,
  `-A ${DN} -s 10.88.0.0/16 -d 10.88.0.1/32 -p tcp -m tcp --dport 8443 -j CNI-HOSTPORT-SETMARK`,
  `-A ${DN} -s 127.0.0.1/32 -d 10.88.0.1/32 -p tcp -m tcp --dport 8443 -j CNI-HOSTPORT-SETMARK`,
  `-A ${DN} -d 10.88.0.1/32 -p tcp -m tcp --dport 8443 -j DNAT --to-destination 10.88.0.5:443`,
  `-A ${DN} -s 10.88.0.0/16 -p tcp -m tcp --dport 9000 -j CNI-HOSTPORT-SETMARK`,
  `-A ${DN} -s 127.0.0.1/32 -p tcp -m tcp --dport 9000 -j CNI-HOSTPORT-SETMARK`,
  `-A ${DN} -p tcp -m tcp --dport 9000 -j DNAT --to-destination 10.88.0.5:90`,
  `-A CNI-HOSTPORT-DNAT -p tcp ${C} -m multiport --dports 8080,8443,9000 -j ${DN}`,
  `-A CNI-HOSTPORT-DNAT -p udp ${C} -m multiport --dports 5353 -j ${DN}`,
  `-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE`,
  `-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000`,
];
const REFERENCE_SAVE = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:${DN} - [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-HOSTPORT-MASQ - [0:0]
:CNI-HOSTPORT-SETMARK - [0:0]
${REFERENCE_V4.join('\n')}
COMMIT
`;

const sorted = (lines: string[]) => [...lines].sort();

describe('portmap iptables names', () => {
  it('hash the network name and container ID as the reference (its unit-test vectors)', () => {
    const id =
      'icee6giejonei6sohng6ahngee7laquohquee9shiGo7fohferakah3Feiyoolu2pei7ciPhoh7shaoX6vai3vuf0ahfaeng8yohb9ceu0daez5hashee8ooYai5wa3y';
    expect(dnatChainName('testNetName', id)).toBe('CNI-DN-bfd599665540dd91d5d28');
    expect(dnatChainName('test', id)).toBe('CNI-DN-67e92b96e692a494b6b85');
    expect(dnatChainName('podman', ID)).toBe(DN);
    expect(legacySnatChainName('podman', ID)).toMatch(/^CNI-SN-[0-9a-f]{21}$/);
  });
  it('comment the entry rules as the reference, cut to what iptables accepts', () => {
    expect(entryComment('net', 'abc')).toBe('dnat name: "net" id: "abc"');
    expect(parseEntryComment('dnat name: "net" id: "abc"')).toEqual({ network: 'net', containerID: 'abc' });
    const long = entryComment('net', 'x'.repeat(300));
    expect(long).toHaveLength(255);
    expect(long.endsWith('...')).toBe(true);
    expect(parseEntryComment(long)).toBeUndefined();
  });
  it('quote restore arguments only when needed', () => {
    expect(restoreArg('[fd00::5]:80')).toBe('[fd00::5]:80');
    expect(restoreArg('a b')).toBe('"a b"');
    expect(restoreArg('say "x" \\')).toBe('"say \\"x\\" \\\\"');
  });
});

describe('portmap iptables setup plan', () => {
  it('on a bare node: the reference layout, rule for rule, in one transaction', () => {
    const lines = planSetup('podman', ID, 4, want(), EMPTY);
    // Shared chains are made with -N (fails, and is retried, if a concurrent ADD made them first).
    expect(lines.slice(0, 4)).toEqual([`-N CNI-HOSTPORT-SETMARK`, `-N CNI-HOSTPORT-MASQ`, `-N CNI-HOSTPORT-DNAT`, `:${DN} - [0:0]`]);
    const rules = lines.slice(4).map((l) => l.replace(/^-I POSTROUTING 1 /, '-A POSTROUTING '));
    expect(sorted(rules)).toEqual(sorted(REFERENCE_V4));
    expect(lines).toContain('-I POSTROUTING 1 -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ');
  });

  it('IPv6: no localhost rule, other-family hostIPs skipped, but the entry rule lists every port', () => {
    const lines = planSetup('podman', ID, 6, want(), EMPTY).filter((l) => l.includes(DN));
    expect(lines).toEqual([
      `:${DN} - [0:0]`,
      `-A ${DN} -s fd00:88::/64 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`,
      `-A ${DN} -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:88::5]:80`,
      `-A ${DN} -s fd00:88::/64 -p udp -m udp --dport 5353 -j CNI-HOSTPORT-SETMARK`,
      `-A ${DN} -p udp -m udp --dport 5353 -j DNAT --to-destination [fd00:88::5]:53`,
      `-A CNI-HOSTPORT-DNAT -p tcp ${C} -m multiport --dports 8080,8443,9000 -j ${DN}`,
      `-A CNI-HOSTPORT-DNAT -p udp ${C} -m multiport --dports 5353 -j ${DN}`,
    ]);
  });

  it('with the shared chains in place: only the attachment; a repeated ADD replaces its rules', () => {
    const state = parseNatSave(REFERENCE_SAVE);
    const lines = planSetup('podman', ID, 4, want({ mappings: [{ hostPort: 8080, containerPort: 81, protocol: 'tcp' }] }), state);
    expect(lines).toEqual([
      `:${DN} - [0:0]`,
      `-D CNI-HOSTPORT-DNAT -p tcp ${C} -m multiport --dports 8080,8443,9000 -j ${DN}`,
      `-D CNI-HOSTPORT-DNAT -p udp ${C} -m multiport --dports 5353 -j ${DN}`,
      `-A ${DN} -s 10.88.0.0/16 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`,
      `-A ${DN} -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`,
      `-A ${DN} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.88.0.5:81`,
      `-A CNI-HOSTPORT-DNAT -p tcp ${C} -m multiport --dports 8080 -j ${DN}`,
    ]);
  });

  it('a rule flushed away by someone else (firewalld reload) is put back, nothing else duplicated', () => {
    const state = parseNatSave(REFERENCE_SAVE.replace(/-A POSTROUTING .*\n/, '').replace(/-A CNI-HOSTPORT-SETMARK .*\n/, ''));
    const shared = planSetup('podman', ID, 4, want(), state).filter((l) => !l.includes(DN));
    expect(shared).toEqual([
      `-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000`,
      `-I POSTROUTING 1 -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ`,
    ]);
  });

  it('fast path: the chain created with -N, the shared rules tested with -C, then only the attachment appended', () => {
    const checks = sharedChecks(want());
    expect(checks).toEqual([
      `-C CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000`,
      `-C CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE`,
      `-C POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ`,
      `-C PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT`,
      `-C OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT`,
    ]);
    // Without masquerade (snat false, or an external mark chain) only the hook jumps matter.
    expect(sharedChecks(want({ externalSetMarkChain: 'KUBE-MARK-MASQ' }))).toEqual(checks.slice(3));
    expect(sharedChecks(want({ snat: false }))).toEqual(checks.slice(3));
    const lines = freshSetupLines('podman', ID, 4, want(), checks);
    expect(lines.slice(0, 6)).toEqual([`-N ${DN}`, ...checks]);
    // What remains is exactly what a planned ADD with the shared chains in place appends.
    const planned = planSetup('podman', ID, 4, want(), parseNatSave(REFERENCE_SAVE.replace(/-A (CNI-DN|CNI-HOSTPORT-DNAT) .*\n/g, '')));
    expect(lines.slice(6)).toEqual(planned.filter((l) => l.startsWith('-A ')));
    expect(freshSetupLines('podman', ID, 4, want(), [])[1]).toBe(lines[6]);
  });

  it('snat false: DNAT only, no mark chains', () => {
    const lines = planSetup('podman', ID, 4, want({ snat: false }), EMPTY);
    expect(lines.filter((l) => /SETMARK|MASQ/.test(l))).toEqual([]);
    expect(lines.filter((l) => l.startsWith(`-A ${DN}`))).toHaveLength(4);
  });

  it('markMasqBit 5, externalSetMarkChain, masqAll', () => {
    expect(planSetup('podman', ID, 4, want({ mark: 0x20 }), EMPTY)).toContain(
      '-A CNI-HOSTPORT-MASQ -m mark --mark 0x20/0x20 -j MASQUERADE',
    );
    const ext = planSetup('podman', ID, 4, want({ externalSetMarkChain: 'KUBE-MARK-MASQ' }), EMPTY);
    expect(ext.filter((l) => /CNI-HOSTPORT-(SETMARK|MASQ)/.test(l))).toEqual([]);
    expect(ext).toContain(`-A ${DN} -s 10.88.0.0/16 -p tcp -m tcp --dport 8080 -j KUBE-MARK-MASQ`);
    expect(ext).toContain(`-A ${DN} -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j KUBE-MARK-MASQ`);
    const all = planSetup('podman', ID, 4, want({ masqAll: true }), EMPTY);
    expect(all).toContain(`-A ${DN} -s 0.0.0.0/0 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`);
    expect(all.filter((l) => l.includes('127.0.0.1'))).toEqual([]);
    expect(planSetup('podman', ID, 6, want({ masqAll: true }), EMPTY)).toContain(
      `-A ${DN} -s ::/0 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`,
    );
  });

  it('conditions go on the entry rules of their family; 17 ports take two multiport rules', () => {
    const mappings = Array.from({ length: 17 }, (_, i) => ({ hostPort: 8101 + i, containerPort: 80, protocol: 'tcp' as const }));
    const lines = planSetup('podman', ID, 4, want({ mappings, conditions: { 4: ['!', '-d', '10.99.0.1'], 6: ['-i', 'x y'] } }), EMPTY);
    const entries = lines.filter((l) => l.startsWith('-A CNI-HOSTPORT-DNAT'));
    expect(entries).toEqual([
      `-A CNI-HOSTPORT-DNAT -p tcp ${C} -m multiport --dports ${mappings
        .slice(0, 15)
        .map((m) => m.hostPort)
        .join(',')} ! -d 10.99.0.1 -j ${DN}`,
      `-A CNI-HOSTPORT-DNAT -p tcp ${C} -m multiport --dports 8116,8117 ! -d 10.99.0.1 -j ${DN}`,
    ]);
    const v6 = planSetup('podman', ID, 6, want({ mappings, conditions: { 4: [], 6: ['-i', 'x y'] } }), EMPTY);
    expect(v6.find((l) => l.startsWith('-A CNI-HOSTPORT-DNAT'))).toContain('--dports 8101,');
    expect(v6.find((l) => l.startsWith('-A CNI-HOSTPORT-DNAT'))).toContain(' -i "x y" -j ');
  });
});

describe('portmap iptables teardown, GC and CHECK', () => {
  it('teardown removes the entry rules and the chain, leaving the shared chains', () => {
    expect(planTeardown('podman', ID, parseNatSave(REFERENCE_SAVE))).toEqual([
      `-D CNI-HOSTPORT-DNAT -p tcp ${C} -m multiport --dports 8080,8443,9000 -j ${DN}`,
      `-D CNI-HOSTPORT-DNAT -p udp ${C} -m multiport --dports 5353 -j ${DN}`,
      `-F ${DN}`,
      `-X ${DN}`,
    ]);
    expect(planTeardown('podman', ID, EMPTY)).toEqual([]);
    // Another network's chain of the same container is not ours.
    expect(planTeardown('other', ID, parseNatSave(REFERENCE_SAVE))).toEqual([]);
  });

  it('teardown also removes the legacy SNAT chain and its jumps', () => {
    const sn = legacySnatChainName('podman', ID);
    const state = parseNatSave(`*nat\n:CNI-HOSTPORT-SNAT - [0:0]\n:${sn} - [0:0]\n-A CNI-HOSTPORT-SNAT -j ${sn}\nCOMMIT\n`);
    expect(planTeardown('podman', ID, state)).toEqual([`-D CNI-HOSTPORT-SNAT -j ${sn}`, `-F ${sn}`, `-X ${sn}`]);
  });

  it('GC removes the attachments of this network that are not valid', () => {
    const state = parseNatSave(REFERENCE_SAVE);
    expect(planGc('podman', new Set([ID]), state)).toEqual([]);
    expect(planGc('othernet', new Set(), state)).toEqual([]);
    expect(planGc('podman', new Set(['someone-else']), state)).toEqual(planTeardown('podman', ID, state));
  });

  it('CHECK tests every rule, the shared ones included, without the comment in the readable name', () => {
    const items = checkedRules('podman', ID, 4, want());
    expect(items).toHaveLength(REFERENCE_V4.length);
    expect(items.map((i) => i.what)).toContain(
      `iptables rule "-A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 5353 -j ${DN}"`.replace('tcp', 'udp'),
    );
    expect(checkedRules('podman', ID, 6, want())[0]!.what).toMatch(/^ip6tables rule/);
  });
});

// ---------------------------------------------------------------- nftables

const nftRule = (chainName: string, handle: number, expr: unknown[], comment?: string, family = 'ip'): NftObject => ({
  rule: { family, table: 'cni_hostport', chain: chainName, handle, expr, ...(comment ? { comment } : {}) },
});
const nftChain = (name: string, hook?: string): NftObject => ({ chain: { family: 'ip', table: 'cni_hostport', name, handle: 1, hook } });
const match = (protocol: string, field: string, right: unknown) => ({ match: { op: '==', left: { payload: { protocol, field } }, right } });
const fibLocal = { match: { op: '==', left: { fib: { result: 'type', flags: ['daddr'] } }, right: 'local' } };
const jump = (target: string) => ({ jump: { target } });

/** A table as the setup below leaves it (nft -j list table ip cni_hostport). */
const TABLE_V4: NftObject[] = [
  nftChain('hostports'),
  nftChain('hostip_hostports'),
  nftChain('hostports_all'),
  nftChain('prerouting', 'prerouting'),
  nftChain('output', 'output'),
  nftChain('masquerading', 'postrouting'),
  nftRule('hostports_all', 2, [jump('hostip_hostports')]),
  nftRule('hostports_all', 3, [jump('hostports')]),
  nftRule('prerouting', 4, [fibLocal, jump('hostports_all')]),
  nftRule('output', 5, [fibLocal, jump('hostports_all')]),
  nftRule('hostports', 6, [match('tcp', 'dport', 8080), { dnat: { addr: '10.88.0.5', port: 80 } }], 'c1'),
  nftRule('hostports', 7, [match('udp', 'dport', 5353), { dnat: { addr: '10.88.0.5', port: 53 } }], 'c1'),
  nftRule(
    'hostports',
    8,
    [match('ip', 'daddr', '10.88.0.1'), match('tcp', 'dport', 8443), { dnat: { addr: '10.88.0.5', port: 443 } }],
    'c1',
  ),
  nftRule('hostports', 9, [match('tcp', 'dport', 9000), { dnat: { addr: '10.88.0.5', port: 90 } }], 'c1'),
  nftRule('hostports', 10, [match('tcp', 'dport', 7000), { dnat: { addr: '10.88.0.9', port: 70 } }], 'other'),
  nftRule(
    'masquerading',
    11,
    [match('ip', 'saddr', { prefix: { addr: '10.88.0.0', len: 16 } }), match('ip', 'daddr', '10.88.0.5'), { masquerade: null }],
    'c1',
  ),
  nftRule('masquerading', 12, [match('ip', 'saddr', '127.0.0.1'), match('ip', 'daddr', '10.88.0.5'), { masquerade: null }], 'c1'),
];
const v4only = (w: HostportWant): HostportWant => ({ ...w, pod: { 4: w.pod[4] } });

/** Both families' views from `nft -j` listings, as the Node build reads them. */
const views = (v4: NftObject[] | null, v6: NftObject[] | null = null, id = 'c1'): Views => ({
  4: viewOfJson(v4, id),
  6: viewOfJson(v6, id),
});
const setupLines = (id: string, w: HostportWant, v: Views): string[] => {
  const steps = planNftSetup(id, w, v);
  return steps ? stepsScript(steps).split('\n').filter(Boolean) : [];
};

describe('portmap nftables', () => {
  it('setup on a bare node: the reference layout (tables, chains, hook jumps, one rule per mapping), nothing flushed', () => {
    expect(setupLines('c1', v4only(want()), views(null))).toEqual([
      'add table ip cni_hostport { comment "CNI portmap plugin" ; }',
      'create chain ip cni_hostport hostports',
      'create chain ip cni_hostport hostip_hostports',
      'create chain ip cni_hostport hostports_all',
      'add rule ip cni_hostport hostports_all jump hostip_hostports',
      'add rule ip cni_hostport hostports_all jump hostports',
      'create chain ip cni_hostport prerouting { type nat hook prerouting priority -100 ; }',
      'add rule ip cni_hostport prerouting fib daddr type local jump hostports_all',
      'create chain ip cni_hostport output { type nat hook output priority -100 ; }',
      'add rule ip cni_hostport output fib daddr type local jump hostports_all',
      'create chain ip cni_hostport masquerading { type nat hook postrouting priority 100 ; }',
      'add rule ip cni_hostport hostports tcp dport 8080 dnat to 10.88.0.5:80 comment "c1"',
      'add rule ip cni_hostport hostports udp dport 5353 dnat to 10.88.0.5:53 comment "c1"',
      'add rule ip cni_hostport hostports ip daddr 10.88.0.1 tcp dport 8443 dnat to 10.88.0.5:443 comment "c1"',
      'add rule ip cni_hostport hostports tcp dport 9000 dnat to 10.88.0.5:90 comment "c1"',
      'add rule ip cni_hostport masquerading ip saddr 10.88.0.0/16 ip daddr 10.88.0.5 masquerade comment "c1"',
      'add rule ip cni_hostport masquerading ip saddr 127.0.0.1 ip daddr 10.88.0.5 masquerade comment "c1"',
    ]);
  });

  it('setup on a table that is already right: nothing when the attachment is too, else only its rules replaced', () => {
    expect(planNftSetup('c1', v4only(want()), views(TABLE_V4))).toBeNull();
    const moved = v4only(want({ pod: { 4: parseCidr('10.88.0.6/16')! } }));
    const lines = setupLines('c1', moved, views(TABLE_V4));
    expect(
      lines.filter((l) => !l.startsWith('delete') && !l.startsWith('add rule ip cni_hostport hostports ') && !l.includes('masquerading')),
    ).toEqual([]);
    expect(lines.filter((l) => l.startsWith('delete'))).toEqual(
      [6, 7, 8, 9]
        .map((h) => `delete rule ip cni_hostport hostports handle ${h}`)
        .concat([11, 12].map((h) => `delete rule ip cni_hostport masquerading handle ${h}`)),
    );
    expect(lines).toContain('add rule ip cni_hostport hostports tcp dport 8080 dnat to 10.88.0.6:80 comment "c1"');
    // One mapping fewer: replaced as well.
    expect(setupLines('c1', v4only(want({ mappings: want().mappings.slice(1) })), views(TABLE_V4))).toHaveLength(6 + 5);
    // Conditions (global, as in the reference) force the hook chains to be rewritten.
    const withConditions = setupLines('c1', v4only(want({ conditions: { 4: ['ip daddr != 10.99.0.1'], 6: [] } })), views(TABLE_V4));
    expect(withConditions).toEqual([
      'flush chain ip cni_hostport prerouting',
      'add rule ip cni_hostport prerouting ip daddr != 10.99.0.1 fib daddr type local jump hostports_all',
      'flush chain ip cni_hostport output',
      'add rule ip cni_hostport output ip daddr != 10.99.0.1 fib daddr type local jump hostports_all',
    ]);
    // A hook chain someone else changed (or an earlier ADD's conditions) is put back.
    const conditioned = TABLE_V4.map((o) =>
      o.rule?.chain === 'output' ? nftRule('output', 5, [match('ip', 'daddr', '10.0.0.9'), fibLocal, jump('hostports_all')]) : o,
    );
    expect(setupLines('c1', v4only(want()), views(conditioned))).toEqual([
      'flush chain ip cni_hostport output',
      'add rule ip cni_hostport output fib daddr type local jump hostports_all',
    ]);
  });

  it('a re-ADD that moved the pod to another family deletes its rules there too', () => {
    const v6Table = [nftRule('hostports', 3, [match('tcp', 'dport', 8080), { dnat: { addr: 'fd00:88::5', port: 80 } }], 'c1', 'ip6')];
    expect(setupLines('c1', v4only(want()), views(TABLE_V4, v6Table))).toEqual(
      expect.arrayContaining(['delete rule ip6 cni_hostport hostports handle 3', 'delete rule ip cni_hostport hostports handle 6']),
    );
  });

  it('IPv6 and masqAll', () => {
    const script = setupLines('c1', want({ masqAll: true }), views(null)).join('\n');
    expect(script).toContain('add rule ip6 cni_hostport hostports tcp dport 8080 dnat to [fd00:88::5]:80 comment "c1"');
    expect(script).not.toContain('dport 8443 dnat to [fd00');
    expect(script).toContain('add rule ip6 cni_hostport masquerading ip6 saddr ::/0 ip6 daddr fd00:88::5 masquerade comment "c1"');
    expect(script).not.toContain('127.0.0.1');
  });

  it('teardown deletes the attachment by comment only; nothing there, nothing to do', () => {
    expect(stepsScript(planNftTeardown(views(TABLE_V4))!)).toBe(
      `${[6, 7, 8, 9].map((h) => `delete rule ip cni_hostport hostports handle ${h}`).join('\n')}\n${[11, 12]
        .map((h) => `delete rule ip cni_hostport masquerading handle ${h}`)
        .join('\n')}\n`,
    );
    expect(planNftTeardown(views(TABLE_V4, null, 'nobody'))).toBeNull();
    expect(planNftTeardown(views(null))).toBeNull();
  });

  it('CHECK finds every rule, and names what is missing', () => {
    expect(missingRules(v4only(want()), views(TABLE_V4))).toEqual([]);
    const broken = TABLE_V4.filter((o) => o.rule?.handle !== 8 && o.rule?.handle !== 12 && o.rule?.chain !== 'output');
    expect(missingRules(v4only(want()), views(broken))).toEqual([
      'nftables rule "fib daddr type local jump hostports_all" in ip cni_hostport output',
      'nftables rule "ip daddr 10.88.0.1 tcp dport 8443 dnat to 10.88.0.5:443" in ip cni_hostport hostports',
      'nftables localhost masquerade rule for 10.88.0.5 in ip cni_hostport masquerading',
    ]);
    expect(missingRules(want(), views(TABLE_V4))).toEqual(['nftables table ip6 cni_hostport']);
  });

  it('reads the facts of a rule from nft JSON', () => {
    expect(ruleFacts(TABLE_V4[12]!.rule as never)).toEqual({
      protocol: 'tcp',
      dport: 8443,
      daddr: '10.88.0.1',
      dnat: { addr: '10.88.0.5', port: 443 },
    });
    expect(ruleFacts(TABLE_V4[15]!.rule as never)).toEqual({ saddr: '10.88.0.0/16', daddr: '10.88.0.5', masquerade: true });
    expect(ruleFacts({ ...(TABLE_V4[12]!.rule as NftRule), expr: [{ counter: { packets: 0, bytes: 0 } }] })).toEqual({ other: 1 });
  });

  it.each<[4 | 6, string]>([
    [4, 'tcp dport 8080 dnat to 10.88.0.5:80'],
    [4, 'ip daddr 10.88.0.1 udp dport 53 dnat to 10.88.0.5:5353'],
    [6, 'ip6 daddr fd00::1 sctp dport 9 dnat to [fd00:88::5]:90'],
    [4, 'ip saddr 10.88.0.0/16 ip daddr 10.88.0.5 masquerade'],
    [4, 'ip saddr 10.1.16.0/20 ip daddr 10.1.16.5 masquerade'],
    [4, 'ip saddr 0.0.0.0/0 ip daddr 10.88.0.5 masquerade'],
    [6, 'ip6 saddr fd00:1:2:30::/60 ip6 daddr fd00:1:2:30::5 masquerade'],
    [6, 'ip6 saddr ::/0 ip6 daddr fd00::5 masquerade'],
    [4, 'fib daddr type local jump hostports_all'],
    [6, 'jump hostip_hostports'],
  ])('IPv%s "%s": its expressions read back to the same rule', (family, text) => {
    const facts = parseFacts(family, text);
    expect(ruleText(family, facts)).toBe(text);
    expect(exprFacts(family, ruleExprs(family, facts))).toEqual(facts);
  });

  it('an expression outside the model makes a rule no rule of ours', () => {
    const exprs = ruleExprs(4, { fibLocal: true, jump: 'hostports_all' });
    expect(exprFacts(4, [{ kind: 'unknown', name: 'counter' }, ...exprs])).toEqual({ fibLocal: true, jump: 'hostports_all', other: 1 });
    // `ip daddr != 10.0.0.1` in front (a user condition): payload and a cmp that is not ==.
    const neq = [
      { kind: 'payload', base: 1, offset: 16, len: 4, dreg: 1 },
      { kind: 'cmp', sreg: 1, op: 1, data: Uint8Array.of(10, 0, 0, 1) },
    ] as const;
    expect(exprFacts(4, [...neq, ...exprs]).other).toBe(2);
    // The v6 forms are not read in an ip table.
    expect(exprFacts(4, ruleExprs(6, { daddr: 'fd00::1' })).other).toBeGreaterThan(0);
  });
});

/** The few rule texts of this layout, parsed back into facts (test helper). */
function parseFacts(family: 4 | 6, text: string) {
  const facts: Record<string, unknown> = {};
  const w = text.split(' ');
  for (let i = 0; i < w.length; i++) {
    if (w[i] === 'saddr' || w[i] === 'daddr') facts[w[i]!] = w[++i];
    else if (w[i] === 'dport') [facts.protocol, facts.dport] = [w[i - 1], Number(w[++i])];
    else if (w[i] === 'fib') [facts.fibLocal, i] = [true, i + 3];
    else if (w[i] === 'masquerade') facts.masquerade = true;
    else if (w[i] === 'jump') facts.jump = w[++i];
    else if (w[i] === 'to') {
      const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(w[++i]!)!;
      facts.dnat = { addr: m[1], port: Number(m[2]) };
    }
  }
  void family;
  return facts;
}

// ---------------------------------------------------------------- config

const PREV = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/x' }],
  ips: [
    { address: '10.88.0.5/16', interface: 2 },
    { address: 'fd00:88::5/64', interface: 2 },
  ],
};
const req = (config: Record<string, unknown>, command = 'ADD') =>
  ({
    command,
    version: '1.0.0',
    env: { ifname: 'eth0', containerID: 'c1' },
    config: { cniVersion: '1.0.0', name: 'n', type: 'portmap', prevResult: PREV, ...config },
    cniArgs: new Map(),
  }) as unknown as Request;
const mappings = (...m: unknown[]) => ({ runtimeConfig: { portMappings: m } });
const failure = async (f: () => Promise<unknown>): Promise<{ code: number; msg: string } | undefined> => {
  try {
    await f();
  } catch (e) {
    return e instanceof CniError ? { code: e.code, msg: e.message } : { code: -1, msg: String(e) };
  }
  return undefined;
};

describe('loadPortmapConfig', () => {
  it('defaults as the reference: snat on, mark bit 13, no conditions, backend chosen on the host', async () => {
    const c = await loadPortmapConfig(req(mappings({ hostPort: 80, containerPort: 8080, protocol: 'TCP', hostIP: '0.0.0.0' })));
    expect(c.backend).toBeUndefined();
    expect(c.want).toMatchObject({ snat: true, masqAll: false, mark: 0x2000, conditions: { 4: [], 6: [] } });
    expect(c.want.mappings).toEqual([{ hostPort: 80, containerPort: 8080, protocol: 'tcp', hostFamily: 4 }]);
    expect(Object.keys(c.want.pod)).toEqual(['4', '6']);
    expect((await loadPortmapConfig(req({ markMasqBit: 31 }))).want.mark).toBe(0x80000000);
  });

  it.each([
    [mappings({ hostPort: 0, containerPort: 80, protocol: 'tcp' }), 7, 'hostPort'],
    [mappings({ hostPort: 65536, containerPort: 80, protocol: 'tcp' }), 7, 'hostPort'],
    [mappings({ hostPort: 80, containerPort: -1, protocol: 'tcp' }), 7, 'containerPort'],
    [mappings({ hostPort: 80, containerPort: 80, protocol: 'icmp' }), 2, 'protocol'],
    [mappings({ hostPort: 80, containerPort: 80 }), 7, 'protocol'],
    [mappings({ hostPort: 80, containerPort: 80, protocol: 'udp', hostIP: '10.0.0.300' }), 7, 'hostIP'],
    [{ markMasqBit: 32 }, 7, 'markMasqBit'],
    [{ markMasqBit: -1 }, 7, 'markMasqBit'],
    [{ markMasqBit: 5, externalSetMarkChain: 'KUBE-MARK-MASQ' }, 7, 'cannot both be set'],
    [{ externalSetMarkChain: 'bad chain\n-A x' }, 7, 'externalSetMarkChain'],
    [{ conditionsV4: ['-d', '10.0.0.1\n-A INPUT -j DROP'] }, 7, 'conditionsV4[1]'],
    [{ conditionsV4: ['ip daddr 10.0.0.1; flush ruleset'] }, 7, 'conditionsV4[0]'],
    [{ conditionsV6: ['-d', ''] }, 7, 'conditionsV6[1]'],
    [{ backend: 'ebtables' }, 2, 'backend'],
    [{ backend: 'nftables', externalSetMarkChain: 'KUBE-MARK-MASQ' }, 7, 'nftables backend was requested'],
    [{ backend: 'iptables', conditionsV4: ['ip daddr 10.0.0.1'] }, 7, 'iptables backend was requested'],
    [{ conditionsV4: ['-d', '10.0.0.1'], conditionsV6: ['ip6 daddr ::1'] }, 7, 'nftables-specific options [conditionsV6]'],
    [{ prevResult: undefined }, 7, 'must be called as chained plugin'],
    [{ prevResult: { cniVersion: '1.0.0', ips: [{ address: 'bogus' }] } }, 6, 'invalid result'],
  ])('refuses %j (code %i, naming %s)', async (config, code, what) => {
    const f = await failure(() => loadPortmapConfig(req(config)));
    expect(f?.code).toBe(code);
    expect(f?.msg).toContain(what);
  });

  it("reads mapping keys in any case, as Go's encoding/json does (containerd sends HostPort, ContainerPort, …)", async () => {
    const c = await loadPortmapConfig(req(mappings({ HostPort: 8080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' })));
    expect(c.want.mappings).toEqual([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
    // An exact spelling wins over another.
    const both = await loadPortmapConfig(req(mappings({ HOSTPORT: 1, hostPort: 2, containerPort: 80, protocol: 'udp' })));
    expect(both.want.mappings[0]!.hostPort).toBe(2);
  });

  it('CHECK without prevResult has the reference message', async () => {
    expect((await failure(() => loadPortmapConfig(req({ prevResult: undefined }, 'CHECK'))))?.msg).toBe('Required prevResult missing');
  });

  it('backend-specific keys choose the backend when none is given', async () => {
    expect((await loadPortmapConfig(req({ externalSetMarkChain: 'KUBE-MARK-MASQ' }))).backend).toBe('iptables');
    expect((await loadPortmapConfig(req({ conditionsV6: ['ip6 saddr ::1'] }))).backend).toBe('nftables');
    expect((await loadPortmapConfig(req({ conditionsV4: ['!', '-d', '10.0.0.1'] }))).backend).toBe('iptables');
  });
});

describe('podAddresses (the reference rule)', () => {
  it('takes the first address of each family on the sandbox interface', () => {
    const prev = {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/x' }, { name: 'eth1', sandbox: '/x' }],
      ips: [
        { address: '10.0.0.9/24', interface: 0 }, // host side: skipped
        { address: '10.1.0.9/24', interface: 2 }, // another interface: skipped
        { address: '10.2.0.9/24', interface: 1 },
        { address: '10.3.0.9/24', interface: 1 }, // second IPv4: ignored
        { address: 'fd00::9/64' }, // no interface: accepted
      ],
    };
    const pod = podAddresses(prev, 'eth0');
    expect(pod[4]).toEqual(parseCidr('10.2.0.9/24'));
    expect(pod[6]).toEqual(parseCidr('fd00::9/64'));
    expect(podAddresses({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.1/8', interface: 7 }] }, 'eth0')[4]).toBeDefined();
    expect(
      podAddresses({ cniVersion: '1.1.0', interfaces: [{ name: 'eth0' }], ips: [{ address: '10.0.0.1/8', interface: 0 }] }, 'eth0'),
    ).toEqual({});
  });
});

// ---------------------------------------------------------------- conntrack

describe('ctnetlink messages', () => {
  it('a dump filtered by the kernel to UDP and one original destination port', () => {
    const bytes = dumpRequest(7, 4, 5353);
    const v = new DataView(bytes.buffer);
    expect(v.getUint16(4, true)).toBe((1 << 8) | 1); // CTNETLINK, IPCTNL_MSG_CT_GET
    expect(v.getUint16(6, true)).toBe(0x301); // REQUEST | DUMP
    expect(bytes[16]).toBe(2); // AF_INET
    expect(Buffer.from(bytes).includes(Buffer.from([0x14, 0xe9]))).toBe(true); // port 5353, big-endian
    expect(dumpRequest(7, 6).length).toBe(20); // unfiltered: header + nfgenmsg only
  });

  it('parses a dumped entry and deletes exactly it (tuple, zone, id)', () => {
    // nfgenmsg + CTA_TUPLE_ORIG{CTA_TUPLE_IP{src,dst}, CTA_TUPLE_PROTO{num 17, sport 40000, dport 5353}} + CTA_ID 0x01020304
    const attr = (type: number, body: number[]) => {
      const len = 4 + body.length;
      const out = [len & 0xff, len >> 8, type & 0xff, type >> 8, ...body];
      while (out.length % 4) out.push(0);
      return out;
    };
    const ip = attr(0x8001, [...attr(1, [10, 0, 0, 1]), ...attr(2, [10, 0, 0, 2])]);
    const proto = attr(0x8002, [...attr(1, [17]), ...attr(2, [0x9c, 0x40]), ...attr(3, [0x14, 0xe9])]);
    const payload = [2, 0, 0, 0, ...attr(0x8001, [...ip, ...proto]), ...attr(12, [1, 2, 3, 4])];
    const msg = new Uint8Array([...new Uint8Array(16), ...payload]);
    new DataView(msg.buffer).setUint32(0, msg.length, true);
    const [m] = splitMessages(msg);
    const entry = parseEntry(m!)!;
    expect(entry).toMatchObject({ protocol: 17, dport: 5353 });
    expect(isStaleUdp(entry, 5353)).toBe(true);
    expect(isStaleUdp(entry, 53)).toBe(false);
    const del = deleteRequest(9, 4, entry);
    expect(new DataView(del.buffer).getUint16(4, true)).toBe((1 << 8) | 2); // IPCTNL_MSG_CT_DELETE
    expect(Buffer.from(del.subarray(20))).toEqual(Buffer.from([...attr(0x8001, [...ip, ...proto]), ...attr(12, [1, 2, 3, 4])]));
  });
});
