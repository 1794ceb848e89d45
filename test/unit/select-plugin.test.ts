import { describe, expect, it } from 'vitest';
import { invokedName, selectPluginName } from '../../plugins/select-plugin.ts';

const names = ['bridge', 'host-local', 'ptp'];

describe('multi-call plugin selection', () => {
  it('uses the basename it was invoked by', () => {
    expect(selectPluginName('/opt/cni/bin/host-local', [], names)).toBe('host-local');
    expect(selectPluginName('ptp', ['bridge'], names)).toBe('ptp');
  });
  it('falls back to the first argument for the multi-call name', () => {
    expect(selectPluginName('/usr/local/bin/cni-ts', ['bridge'], names)).toBe('bridge');
    expect(selectPluginName('cni-ts', [], names)).toBeUndefined();
    expect(selectPluginName('cni-ts', ['portmap'], names)).toBeUndefined();
    expect(selectPluginName('cni-ts', ['../bridge'], names)).toBeUndefined();
  });
  it('reads the exec name from argv[1]: the script path under Node, the exec\'d name in the standalone executable', () => {
    expect(invokedName({ argv0: './bridge', argv: ['/opt/cni/bin/cni-ts', './bridge'] })).toBe('./bridge');
    expect(invokedName({ argv0: 'node', argv: ['/usr/bin/node', '/opt/cni/bin/ptp'] })).toBe('/opt/cni/bin/ptp');
  });
});
