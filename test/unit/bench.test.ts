// The benchmark's pure parts: statistics, per-build isolation of the scenario configs, the table.
import { describe, expect, it } from 'vitest';
import { quantile, renderMarkdown, renderScale, scaleChains, scenarios, summarize } from '../../scripts/bench.mjs';

describe('bench statistics', () => {
  it('uses nearest-rank quantiles', () => {
    const s = Array.from({ length: 30 }, (_, i) => i + 1);
    expect(quantile(s, 0.5)).toBe(15);
    expect(quantile(s, 0.9)).toBe(27);
    expect(quantile(s, 0.99)).toBe(30);
    expect(quantile([], 0.5)).toBeNaN();
  });
  it('summarizes unsorted samples', () => {
    expect(summarize([5, 1, 3])).toMatchObject({ n: 3, median: 3, min: 1, max: 5, p99: 5 });
  });
});

describe('bench scenarios', () => {
  it('keep every build on its own network name, bridge, subnet and dataDir', () => {
    for (const sc of scenarios('/tmp/x').filter((x) => x.config(0).ipam)) {
      const cfgs = [0, 1, 2].map((slot) => sc.config(slot, slot === 0 ? 'reference' : 'bundle'));
      for (const key of ['name', 'bridge']) {
        const values = cfgs.map((c) => c[key]).filter((v) => v !== undefined);
        expect(new Set(values).size).toBe(values.length);
      }
      const subnets = cfgs.map((c) => c.ipam.ranges[0][0].subnet);
      expect(new Set(subnets).size).toBe(3);
      expect(new Set(cfgs.map((c) => c.ipam.dataDir)).size).toBe(3);
    }
  });
  it('chains hand the same network name to every plugin, and only one scenario asks for a host port', () => {
    const chains = scenarios('/tmp/x').filter((x) => x.next);
    expect(chains.map((c) => c.id)).toEqual(['chain-hostport', 'chain']);
    for (const c of chains) for (const slot of [0, 1, 2]) expect(c.next!(slot)[0]!.config.name).toBe(c.config(slot).name);
    expect(chains.map((c) => c.next!(0)[0]!.config.runtimeConfig?.portMappings?.length ?? 0)).toEqual([1, 0]);
  });
  it('never sends our routed-mode key to the reference ptp', () => {
    const routed = scenarios('/tmp/x').find((s) => s.id === 'ptp-routed')!;
    expect(routed.config(0, 'reference').proxyArp).toBeUndefined();
    expect(routed.config(2, 'standalone').proxyArp).toBe(true);
  });
});

describe('bench table', () => {
  it('prints ratios ours / reference', () => {
    const add = (m: number) => ({ n: 1, median: m, p90: m, p99: m, min: m, max: m });
    const md = renderMarkdown({
      machine: { date: '2026-01-01T00:00:00Z', nproc: 2, cpu: 'cpu', kernel: 'k', node: 'v20' },
      params: { iterations: 1, concurrency: 20, rounds: 1 },
      scenarios: [
        {
          id: 'bridge',
          label: 'bridge + host-local',
          results: { reference: { add: add(10) }, bundle: { add: add(60) }, standalone: { add: add(8) } },
        },
      ],
      startup: {},
    });
    expect(md).toContain(
      '| bridge + host-local | ADD ms (median / p90 / p99) | 10.0 / 10.0 / 10.0 | 60.0 / 60.0 / 60.0 | 6.00× | 8.0 / 8.0 / 8.0 | 0.80× |',
    );
  });
});

describe('bench scale scenario', () => {
  it('measures containerd’s chain with and without a host port, plus a bridge without masquerade', () => {
    expect(scaleChains('nftables', '/tmp/x', false).map((c) => c.id)).toEqual(['nomasq', 'bridge']);
    const chains = scaleChains('iptables', '/tmp/x', true);
    expect(chains.map((c) => c.id)).toEqual(['nomasq', 'bridge', 'portmap0', 'portmap1']);
    expect(chains[1]!.plugins[0]!.config).toMatchObject({ ipMasq: true, ipMasqBackend: 'iptables', isGateway: true });
    expect(chains[0]!.plugins[0]!.config.ipMasq).toBe(false);
    expect(chains[3]!.plugins[1]!.config).toMatchObject({ type: 'portmap', backend: 'iptables' });
  });
  it('prints ratios per size and the growth from the smallest to the largest node', () => {
    const s = (m: number) => ({ n: 1, median: m, p90: m, p99: m, min: m, max: m });
    const sizes = {
      0: { reference: { add: s(40), del: s(80) }, standalone: { add: s(20), del: s(40) } },
      250: { reference: { add: s(44), del: s(80) }, standalone: { add: s(24), del: s(44) } },
    };
    const md = renderScale({ nftables: { bridge: { label: 'bridge (isGateway, ipMasq)', sizes } } }, [0, 250]).join('\n');
    expect(md).toContain('| nftables | bridge (isGateway, ipMasq) | 0 | 40.0 | 20.0 | 0.50× | 80.0 | 40.0 | 0.50× |');
    expect(md).toContain('| nftables | bridge (isGateway, ipMasq) | 1.20× | 1.10× | 1.10× | 1.00× |');
  });
});
