// The minimal-change plans: iptables ADD's fast path and DEL's single-chain plan (processes and
// nf_tables messages), masquerade's nftables netlink plan (what it skips when the table is in
// place), the spoof check's netlink plans, and CHECK over decoded netlink rules.
import { describe, expect, it } from 'vitest';
import { decideBackend } from '../../lib/firewall/backend.ts';
import { chainName, jumpsIn, masqRuleComment, teardownLines, teardownMessages } from '../../lib/firewall/masquerade-iptables.ts';
import { commentForInstance, postroutingIntact, postroutingRules, tableInPlace } from '../../lib/firewall/masquerade-nft.ts';
import {
  freshSetupLines,
  masqRuleExprs,
  missingNetlinkRules,
  parseAddresses,
  setupMessages,
  setupScript,
} from '../../lib/firewall/masquerade-setup.ts';
import {
  addRule,
  decodeRule,
  type Expr,
  encodeMessage,
  jumpTarget,
  mayJumpTo,
  NFT_MSG,
  type NfRule,
  verdict,
} from '../../lib/firewall/nftables/codec.ts';
import { isUnsupported, NfError } from '../../lib/firewall/nftables/netlink.ts';
import { freshSetupMessages, missingNetlinkSpoofRules, teardownMessages as spoofTeardown } from '../../lib/firewall/spoofcheck.ts';
import { NetlinkError } from '../../lib/kernel/netlink.ts';

/** A rule as a dump would return it: encoded, given a handle, decoded. */
function dumped(chain: string, exprs: Expr[], handle: number, comment?: string): NfRule {
  const m = encodeMessage(addRule({ family: 'inet', table: 't' }, chain, exprs, comment), 1);
  const out = new Uint8Array([...m, 12, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, handle]);
  return decodeRule(out.subarray(16));
}
const msgType = (m: { type: number }) => m.type & 0xff;

describe('iptables masquerade: minimal plans', () => {
  const id = 'abc123';
  const chain = chainName('mynet', id);
  const c = `-m comment --comment "${masqRuleComment('mynet', id).replace(/"/g, '\\"')}"`;

  it('ADD creates the chain (failing if it exists), fills it and appends the jumps, nothing else', () => {
    expect(freshSetupLines('mynet', id, 4, parseAddresses(['10.1.2.3/24']))).toEqual([
      `-N ${chain}`,
      `-A ${chain} -d 10.1.2.0/24 ${c} -j ACCEPT`,
      `-A ${chain} ! -d 224.0.0.0/4 ${c} -j MASQUERADE`,
      `-A POSTROUTING -s 10.1.2.3/32 ${c} -j ${chain}`,
    ]);
  });

  it('DEL finds its jumps in one chain listing and removes them and the chain in one transaction', () => {
    const listing = [
      '-P POSTROUTING ACCEPT',
      '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
      `-A POSTROUTING -s 10.1.2.3/32 ${c} -j ${chain}`,
      `-A POSTROUTING -s 10.1.2.0/24 -j ${chain}`, // the reference's legacy form
      `-A POSTROUTING -s 10.1.2.9/32 -j ${chain}X`,
      '',
    ].join('\n');
    const jumps = jumpsIn(listing, chain);
    expect(jumps).toEqual([`-A POSTROUTING -s 10.1.2.3/32 ${c} -j ${chain}`, `-A POSTROUTING -s 10.1.2.0/24 -j ${chain}`]);
    expect(teardownLines(chain, jumps)).toEqual([
      `:${chain} - [0:0]`,
      `-D POSTROUTING -s 10.1.2.3/32 ${c} -j ${chain}`,
      `-D POSTROUTING -s 10.1.2.0/24 -j ${chain}`,
      `-X ${chain}`,
    ]);
  });

  it('DEL over netlink: jump rules by handle in each family that has them, then the chain where it exists', () => {
    const v4 = { family: 'ip' as const, table: 'nat' };
    const v6 = { family: 'ip6' as const, table: 'nat' };
    const post = [
      dumped('POSTROUTING', [verdict('jump', 'KUBE-POSTROUTING')], 5),
      dumped('POSTROUTING', [{ kind: 'masq' }, verdict('jump', chain)], 9),
    ];
    const msgs = teardownMessages(chain, [
      { ref: v4, postrouting: post, chainExists: true },
      { ref: v6, postrouting: [], chainExists: false },
    ]);
    expect(msgs.map(msgType)).toEqual([NFT_MSG.DELRULE, NFT_MSG.DELRULE, NFT_MSG.DELCHAIN]);
    expect(msgs.every((m) => m.family === 2)).toBe(true);
    expect(teardownMessages(chain, [{ ref: v6, postrouting: [], chainExists: false }])).toEqual([]);
  });

  it('a dump is narrowed to the rules that may jump to the chain, on the bytes', () => {
    const bytes = (exprs: Expr[], comment?: string) =>
      encodeMessage(addRule({ family: 'ip', table: 'nat' }, 'POSTROUTING', exprs, comment), 1).subarray(16);
    expect(mayJumpTo(bytes([{ kind: 'masq' }, verdict('jump', chain)], 'with a comment after'), chain)).toBe(true);
    expect(mayJumpTo(bytes([verdict('goto', chain)]), chain)).toBe(true);
    expect(mayJumpTo(bytes([verdict('jump', `${chain}X`)]), chain)).toBe(false);
    expect(mayJumpTo(bytes([verdict('jump', chain.slice(0, -1))]), chain)).toBe(false);
    expect(mayJumpTo(bytes([verdict('jump', chain), { kind: 'masq' }]), chain)).toBe(false);
    expect(mayJumpTo(bytes([verdict('accept')]), chain)).toBe(false);
  });

  it('a rule’s verdict is read without decoding the rest of it', () => {
    const r = dumped('POSTROUTING', [{ kind: 'meta', key: 15, dreg: 1 }, verdict('goto', 'x')], 3);
    expect(jumpTarget(r)).toBe('x');
    expect(jumpTarget(dumped('c', [verdict('accept')], 4))).toBeUndefined();
  });
});

describe('nftables masquerade over netlink', () => {
  it('writes only the attachment’s rules when the table, chains and postrouting are in place', () => {
    const full = setupMessages('n', 'eth0', 'id1', ['10.1.2.3/24'], []);
    const lean = setupMessages('n', 'eth0', 'id1', ['10.1.2.3/24'], [17], true);
    expect(full.map(msgType)).toEqual([
      NFT_MSG.NEWTABLE,
      NFT_MSG.NEWCHAIN,
      NFT_MSG.NEWCHAIN,
      NFT_MSG.DELRULE,
      NFT_MSG.NEWRULE,
      NFT_MSG.NEWRULE,
      NFT_MSG.NEWRULE,
      NFT_MSG.NEWRULE,
    ]);
    expect(lean.map(msgType)).toEqual([NFT_MSG.DELRULE, NFT_MSG.NEWRULE]);
  });

  it('knows an intact postrouting chain from a changed one', () => {
    const intact = postroutingRules().map((e, i) => dumped('postrouting', e, i + 1));
    expect(postroutingIntact(intact)).toBe(true);
    expect(postroutingIntact(intact.slice(0, 2))).toBe(false);
    expect(postroutingIntact([intact[0]!, intact[2]!, intact[1]!])).toBe(false);
  });

  it('CHECK compares expressions, not just comments', () => {
    const comment = commentForInstance('n', 'eth0', 'id1');
    const post = postroutingRules().map((e, i) => dumped('postrouting', e, i + 1));
    const [v4] = parseAddresses(['10.1.2.3/24']);
    const mine = [dumped('masq_checks', masqRuleExprs(v4!), 9, comment)];
    expect(missingNetlinkRules(post, mine, 'n', 'eth0', 'id1', ['10.1.2.3/24'])).toEqual([]);
    expect(missingNetlinkRules(post, mine, 'n', 'eth0', 'id1', ['10.1.2.4/24'])).toHaveLength(1);
    expect(missingNetlinkRules(post, mine, 'n', 'eth0', 'id1', ['10.1.2.3/25'])).toHaveLength(1);
    expect(missingNetlinkRules(null, null, 'n', 'eth0', 'id1', ['10.1.2.3/24'])).toEqual(['nftables table inet cni_plugins_masquerade']);
  });
});

describe('spoof check over netlink', () => {
  it('skips the table and base chain when they exist, and creates its own chains exclusively', () => {
    expect(freshSetupMessages('id', 'eth0', 'veth1', '02:00:00:00:00:01').map(msgType)).toEqual([
      NFT_MSG.NEWTABLE,
      NFT_MSG.NEWCHAIN,
      NFT_MSG.NEWCHAIN,
      NFT_MSG.NEWCHAIN,
      NFT_MSG.NEWRULE,
      NFT_MSG.NEWRULE,
      NFT_MSG.NEWRULE,
      NFT_MSG.NEWRULE,
    ]);
    const lean = freshSetupMessages('id', 'eth0', 'veth1', '02:00:00:00:00:01', true);
    expect(lean.map(msgType).slice(0, 2)).toEqual([NFT_MSG.NEWCHAIN, NFT_MSG.NEWCHAIN]);
    expect(lean.slice(0, 2).every((m) => m.flags & 0x200)).toBe(true); // NLM_F_EXCL
  });

  it('teardown deletes its PREROUTING jump by handle, then its chains; nothing when none of it exists', () => {
    const pre = [
      dumped('PREROUTING', [verdict('jump', 'cni-br-iface-id-eth0')], 4, 'macspoofchk-id-eth0'),
      dumped('PREROUTING', [verdict('accept')], 5, 'other'),
    ];
    expect(spoofTeardown('id-eth0', pre, { iface: true, mac: true })!.map(msgType)).toEqual([
      NFT_MSG.DELRULE,
      NFT_MSG.DELRULE,
      NFT_MSG.DELRULE,
      NFT_MSG.DELCHAIN,
      NFT_MSG.DELCHAIN,
    ]);
    expect(spoofTeardown('gone-eth0', pre, { iface: false, mac: false })).toBeNull();
  });

  it('CHECK finds a wrong MAC and a missing drop', () => {
    const rules = new Map<string, NfRule[]>();
    const msgs = freshSetupMessages('id', 'eth0', 'veth1', '02:00:00:00:00:01', true).filter((m) => msgType(m) === NFT_MSG.NEWRULE);
    let h = 10;
    for (const m of msgs) {
      const r = decodeRule(encodeMessage(m, 1).subarray(16));
      rules.set(r.chain, [...(rules.get(r.chain) ?? []), { ...r, chain: r.chain, exprs: r.exprs, handle: h++, comment: r.comment }]);
    }
    const lookup = (c: string) => rules.get(c) ?? null;
    expect(missingNetlinkSpoofRules(lookup, 'id', 'eth0', 'veth1', '02:00:00:00:00:01')).toEqual([]);
    expect(missingNetlinkSpoofRules(lookup, 'id', 'eth0', 'veth1', '02:00:00:00:00:02')).toHaveLength(1);
    rules.set('cni-br-iface-id-eth0-mac', rules.get('cni-br-iface-id-eth0-mac')!.slice(0, 1));
    expect(missingNetlinkSpoofRules(lookup, 'id', 'eth0', 'veth1', '02:00:00:00:00:01')).toEqual(['drop rule in cni-br-iface-id-eth0-mac']);
    expect(missingNetlinkSpoofRules(() => null, 'id', 'eth0', 'veth1', '02:00:00:00:00:01')).toEqual(['nftables table bridge nat']);
  });
});

describe('falling back to nft', () => {
  it('only for errors that say this path cannot do it, never for a state conflict', () => {
    expect(isUnsupported(new NfError('x', 22, ''))).toBe(true); // EINVAL: an attribute this kernel lacks
    expect(isUnsupported(new NfError('x', 95, ''))).toBe(true); // EOPNOTSUPP
    expect(isUnsupported(new NetlinkError(93, 'no socket'))).toBe(true);
    expect(isUnsupported(new NfError('x', 17, ''))).toBe(false); // EEXIST: handled by the caller
    expect(isUnsupported(new NfError('x', 2, ''))).toBe(false); // ENOENT: retried from a fresh read
    expect(isUnsupported(new Error('x'))).toBe(false);
    expect(new NfError('masquerade setup', 17, ' (detail)').message).toBe('masquerade setup: File exists (detail)');
  });
});

describe('nftables masquerade with nft (Node build)', () => {
  const objs = (post: unknown[][]) =>
    [
      { chain: { family: 'inet', table: 'cni_plugins_masquerade', name: 'masq_checks', handle: 1 } },
      { chain: { family: 'inet', table: 'cni_plugins_masquerade', name: 'postrouting', handle: 2, hook: 'postrouting' } },
      ...post.map((expr, i) => ({ rule: { family: 'inet', table: 'cni_plugins_masquerade', chain: 'postrouting', handle: 3 + i, expr } })),
    ] as never;
  const intact = [
    [
      { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: { prefix: { addr: '224.0.0.0', len: 4 } } } },
      { return: null },
    ],
    [
      { match: { op: '==', left: { payload: { protocol: 'ip6', field: 'daddr' } }, right: { prefix: { addr: 'ff00::', len: 8 } } } },
      { return: null },
    ],
    [{ goto: { target: 'masq_checks' } }],
  ];

  it('rebuilds the table only when it is not already in place', () => {
    expect(tableInPlace(objs(intact))).toBe(true);
    expect(tableInPlace(objs(intact.slice(1)))).toBe(false);
    expect(tableInPlace(objs([...intact.slice(0, 2), [{ jump: { target: 'masq_checks' } }]]))).toBe(false);
    expect(tableInPlace(null)).toBe(false);
    const lean = setupScript('n', 'eth0', 'id1', ['10.1.2.3/24'], [5], true).trim().split('\n');
    expect(lean).toHaveLength(2);
    expect(lean[0]).toBe('delete rule inet cni_plugins_masquerade masq_checks handle 5');
    expect(lean[1]).toMatch(/^add rule inet cni_plugins_masquerade masq_checks ip saddr 10\.1\.2\.3 /);
  });
});

describe('iptables-nft recognised by the executable, not its directory', () => {
  it('a legacy iptables under a directory named after nft still needs the probe', () => {
    expect(decideBackend(undefined, { iptables: '/usr/sbin/xtables-nft-multi', nft: true })).toBe('iptables');
    expect(decideBackend(undefined, { iptables: '/opt/nft-tools/xtables-legacy-multi', nft: true })).toBe('probe');
  });
});
