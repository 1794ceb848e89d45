// The portmap plugin (chained after an interface plugin): forwards host ports to the pod by DNAT,
// with hairpin and localhost masquerade, in the reference's kernel layout (lib/firewall/portmap.ts).
// ADD: rules for each family the pod has an address of, then (in parallel) stale UDP conntrack
// entries of the new host ports removed and route_localnet on the interface towards the pod, so
// 127.0.0.1:<hostPort> works; prevResult is passed through. A failed ADD removes what it added.
// DEL finds the rules by network name and container ID alone: no netns, prevResult or mappings needed.
import { validAttachmentsOf } from '../../lib/cni/attachments.ts';
import type { Plugin, Request } from '../../lib/cni/dispatch.ts';
import { CniError, ErrorCode } from '../../lib/cni/errors.ts';
import type { Result } from '../../lib/cni/types.ts';
import { familiesOf, type HostportWant, mappingsOf } from '../../lib/firewall/portmap-want.ts';
import { query } from '../../lib/kernel/iproute.ts';
import { HOST } from '../../lib/kernel/shapes.ts';
import { writeSysctls } from '../../lib/kernel/sysctl.ts';
import { formatIP } from '../../lib/net/address.ts';
import { settleThenThrowFirst, UndoStack } from '../../lib/platform/steps.ts';
import { loadPortmapConfig } from './config.ts';
import { attachmentOf, del } from './del.ts';
import { status } from './status.ts';

// Loaded only by calls with host ports: a pod without any (most pods) never reads the firewall code.
const hostports = () => import('../../lib/firewall/portmap.ts');
const backends = () => import('../../lib/firewall/backend.ts');
const conntrack = () => import('../../lib/firewall/conntrack.ts');

/** Stale UDP conntrack entries to the new host ports, per family (failures only logged). */
async function flushStaleUdp(want: HostportWant): Promise<void> {
  const { flushStaleUdp: flush } = await conntrack();
  await Promise.all(
    familiesOf(want).map((f) => {
      const ports = mappingsOf(want, f)
        .filter((m) => m.protocol === 'udp')
        .map((m) => m.hostPort);
      return ports.length ? flush(f, ports, formatIP(want.pod[f]!.ip)) : undefined;
    }),
  );
}

/**
 * route_localnet=1 on the interface the node routes the pod's IPv4 address through (the bridge,
 * or the pod's host veth with ptp), as the reference does: 127.0.0.1-sourced packets may then
 * leave through it, DNATed to the pod and masqueraded. No route: nothing to do.
 */
async function enableRouteLocalnet(want: HostportWant): Promise<void> {
  const pod = want.pod[4];
  if (!pod) return;
  const route = await query(HOST, [{ kind: 'route-get', to: formatIP(pod.ip) }]).then(
    ([routes]) => routes[0],
    () => undefined,
  );
  if (!route?.dev) return;
  try {
    await writeSysctls(HOST, { [`net/ipv4/conf/${route.dev}/route_localnet`]: '1' });
  } catch (e) {
    throw new CniError(ErrorCode.KernelCommandFailed, `unable to enable route_localnet on ${route.dev}`, (e as CniError).details);
  }
}

async function add(req: Request): Promise<Result> {
  const cfg = await loadPortmapConfig(req);
  if (!cfg.want.mappings.length || !familiesOf(cfg.want).length) return cfg.prevResult;
  const [{ setupHostports, teardownHostports }, { chooseBackend }] = await Promise.all([hostports(), backends()]);
  const backend = await chooseBackend(cfg.backend);
  const a = attachmentOf(req);
  const undo = new UndoStack();
  return undo.guard(async () => {
    undo.push('host port rules', () => teardownHostports(a));
    await setupHostports(backend, a, cfg.want);
    await settleThenThrowFirst([flushStaleUdp(cfg.want), cfg.want.snat && enableRouteLocalnet(cfg.want)]);
    return cfg.prevResult;
  });
}

async function check(req: Request): Promise<void> {
  const cfg = await loadPortmapConfig(req);
  if (!cfg.want.mappings.length || !familiesOf(cfg.want).length) return;
  const [{ checkHostports }, { chooseBackend }] = await Promise.all([hostports(), backends()]);
  await checkHostports(await chooseBackend(cfg.backend), attachmentOf(req), cfg.want);
}

async function gc(req: Request): Promise<void> {
  const valid = validAttachmentsOf(req);
  if (!valid) return;
  await (await hostports()).gcHostports(String(req.config.name), valid);
}

/**
 * portmap never enters CNI_NETNS (it works in the node's namespace) and never reads CNI_ARGS, so
 * it accepts any value in either, as the reference does.
 */
export const portmap: Plugin = { name: 'portmap', entersNetns: false, readsCniArgs: false, add, del, check, gc, status };
