// Pure parts of the MAC spoof check: names, the JSON transactions, teardown/GC selection, CHECK.
import { describe, expect, it } from 'vitest';
import type { NftObject } from '../../lib/firewall/nft.ts';
import {
  freshSetupScript,
  ifaceChainName,
  macChainName,
  missingSpoofRules,
  refID,
  repairSetupScript,
  spoofRuleComment,
  staleRefs,
  teardownScript,
} from '../../lib/firewall/spoofcheck.ts';

const at = { family: 'bridge', table: 'nat' };

// The layout /usr/lib/cni/bridge (1.1.1) made for container abc123, eth0 (from `nft -j list ruleset`).
function referenceTable(ref = 'abc123-eth0', veth = 'veth3309bba6', mac = '52:89:52:d8:17:8c', h = 1): NftObject[] {
  const c = `macspoofchk-${ref}`;
  return [
    { chain: { ...at, name: `cni-br-iface-${ref}`, handle: h * 10 + 2 } },
    { chain: { ...at, name: `cni-br-iface-${ref}-mac`, handle: h * 10 + 3 } },
    {
      rule: {
        ...at,
        chain: 'PREROUTING',
        handle: h * 10 + 4,
        comment: c,
        expr: [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: veth } }, { jump: { target: `cni-br-iface-${ref}` } }],
      },
    },
    {
      rule: {
        ...at,
        chain: `cni-br-iface-${ref}`,
        handle: h * 10 + 5,
        comment: c,
        expr: [{ jump: { target: `cni-br-iface-${ref}-mac` } }],
      },
    },
    {
      rule: {
        ...at,
        chain: `cni-br-iface-${ref}-mac`,
        handle: h * 10 + 6,
        comment: c,
        expr: [{ match: { op: '==', left: { payload: { protocol: 'ether', field: 'saddr' } }, right: mac } }, { return: null }],
      },
    },
    { rule: { ...at, chain: `cni-br-iface-${ref}-mac`, handle: h * 10 + 7, comment: c, expr: [{ drop: null }] } },
  ];
}
const BASE: NftObject[] = [
  { table: { family: 'bridge', name: 'nat', handle: 1 } },
  { chain: { ...at, name: 'PREROUTING', handle: 1, type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } },
];

describe('names', () => {
  it('follow the reference layout', () => {
    const ref = refID('abc123', 'eth0');
    expect(ref).toBe('abc123-eth0');
    expect(ifaceChainName(ref)).toBe('cni-br-iface-abc123-eth0');
    expect(macChainName(ref)).toBe('cni-br-iface-abc123-eth0-mac');
    expect(spoofRuleComment(ref)).toBe('macspoofchk-abc123-eth0');
  });
});

describe('setup', () => {
  it('fresh: one transaction that creates the chains (failing if they exist) and adds the four rules', () => {
    const cmds = JSON.parse(freshSetupScript('abc123', 'eth0', 'veth3309bba6', '52:89:52:D8:17:8C')).nftables;
    expect(cmds[0]).toEqual({ add: { table: { ...at, name: 'nat' } } });
    expect(cmds[1]).toEqual({
      add: { chain: { ...at, name: 'PREROUTING', type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } },
    });
    expect(cmds[2]).toEqual({ create: { chain: { ...at, name: 'cni-br-iface-abc123-eth0' } } });
    expect(cmds[3]).toEqual({ create: { chain: { ...at, name: 'cni-br-iface-abc123-eth0-mac' } } });
    // The rules are exactly what the reference has (comment, expressions; MAC lower-cased).
    const made = cmds.slice(4).map((c: any) => ({ chain: c.add.rule.chain, comment: c.add.rule.comment, expr: c.add.rule.expr }));
    const ref = referenceTable()
      .filter((o) => o.rule)
      .map((o) => ({ chain: o.rule!.chain, comment: o.rule!.comment, expr: o.rule!.expr }));
    expect(made).toEqual(ref);
  });

  it('repair: deletes the old jump by handle and refills both chains', () => {
    const cmds = JSON.parse(repairSetupScript('abc123', 'eth0', 'vethnew', '52:89:52:d8:17:8c', [...BASE, ...referenceTable()])).nftables;
    expect(cmds).toContainEqual({ delete: { rule: { ...at, chain: 'PREROUTING', handle: 14 } } });
    expect(cmds).toContainEqual({ flush: { chain: { ...at, name: 'cni-br-iface-abc123-eth0' } } });
    expect(cmds).toContainEqual({ flush: { chain: { ...at, name: 'cni-br-iface-abc123-eth0-mac' } } });
    expect(cmds.filter((c: any) => c.add?.rule)).toHaveLength(4);
    expect(cmds.findIndex((c: any) => c.delete)).toBeLessThan(cmds.findIndex((c: any) => c.add?.rule));
  });
});

describe('teardown and GC', () => {
  it('teardown removes the jump, flushes, deletes the iface chain before the mac chain; null when absent', () => {
    const cmds = JSON.parse(teardownScript([...BASE, ...referenceTable()], ['abc123-eth0'])!).nftables;
    expect(cmds).toEqual([
      { delete: { rule: { ...at, chain: 'PREROUTING', handle: 14 } } },
      { flush: { chain: { ...at, name: 'cni-br-iface-abc123-eth0' } } },
      { flush: { chain: { ...at, name: 'cni-br-iface-abc123-eth0-mac' } } },
      { delete: { chain: { ...at, name: 'cni-br-iface-abc123-eth0' } } },
      { delete: { chain: { ...at, name: 'cni-br-iface-abc123-eth0-mac' } } },
    ]);
    expect(teardownScript(BASE, ['abc123-eth0'])).toBeNull();
    expect(teardownScript([...BASE, ...referenceTable()], ['zzz-eth0'])).toBeNull();
  });

  it('GC removes invalid attachments whose host veth is gone, never live ones (possibly of another network)', () => {
    const table = [
      ...BASE,
      ...referenceTable('a-eth0', 'veth1', '02:00:00:00:00:01', 1),
      ...referenceTable('b-eth0', 'veth2', '02:00:00:00:00:02', 2),
    ];
    const links = new Set(['lo', 'veth2']);
    expect(staleRefs(table, [], links)).toEqual(['a-eth0']); // b's veth still exists
    expect(staleRefs(table, [{ containerID: 'a', ifname: 'eth0' }], links)).toEqual([]);
    expect(staleRefs(table, [], new Set())).toEqual(['a-eth0', 'b-eth0']);
    // Half-removed leftovers (no PREROUTING rule) are stale too.
    const half = table.filter((o) => !(o.rule && o.rule.chain === 'PREROUTING' && o.rule.comment === 'macspoofchk-b-eth0'));
    expect(staleRefs(half, [], links)).toEqual(['a-eth0', 'b-eth0']);
  });
});

describe('CHECK', () => {
  const table = [...BASE, ...referenceTable()];
  it('passes on the reference layout (MAC case-insensitive)', () => {
    expect(missingSpoofRules(table, 'abc123', 'eth0', 'veth3309bba6', '52:89:52:D8:17:8C')).toEqual([]);
  });
  it('names what differs', () => {
    expect(missingSpoofRules(table, 'abc123', 'eth0', 'vethother', '52:89:52:d8:17:8c')).toEqual([
      `rule 'iifname "vethother" jump cni-br-iface-abc123-eth0' in PREROUTING`,
    ]);
    expect(missingSpoofRules(table, 'abc123', 'eth0', 'veth3309bba6', '02:00:00:00:00:09')).toEqual([
      `rule 'ether saddr 02:00:00:00:00:09 return' in cni-br-iface-abc123-eth0-mac`,
    ]);
    expect(missingSpoofRules(null, 'abc123', 'eth0', 'v', 'm')).toEqual(['nftables table bridge nat']);
  });
});
