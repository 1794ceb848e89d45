// The one contract every firewall feature's backends implement (masquerade today, portmap's host
// ports next): a feature is a table of drivers, one per backend, and the façade picks one for
// ADD/CHECK and runs all of them for DEL and GC — an attachment may have been made by another
// version, another implementation or with another backend setting, and a DEL must still find it.
//
// Every driver finds an attachment's rules by (network, container ID, ifname) alone — a chain name
// hashed from them, a rule comment, a set element — never by addresses read back from an
// interface, so DEL works after the pod's namespace is gone.

import { CniError, ErrorCode } from '../cni/errors.ts';
import { settleThenThrowJoined } from '../platform/steps.ts';

export type FirewallBackend = 'iptables' | 'nftables';
export const FIREWALL_BACKENDS: readonly FirewallBackend[] = ['iptables', 'nftables'];

/** What a feature's rules are found by. */
export interface AttachmentKey {
  containerID: string;
  ifname: string;
}

export interface Attachment extends AttachmentKey {
  network: string;
}

/**
 * One backend of one feature. `Want` is what ADD asks for beyond the attachment (masquerade: the
 * pod addresses; portmap: the mappings and the pod addresses).
 */
export interface FirewallDriver<Want> {
  /** Make the attachment's rules exactly what `want` asks for (idempotent: a re-ADD adds nothing twice). */
  setup(a: Attachment, want: Want): Promise<void>;
  /** Remove every rule of the attachment. Absent rules, or a backend this host cannot use, are not an error. */
  teardown(a: Attachment): Promise<void>;
  /** Remove the rules of `network` whose attachment is not in `valid`. */
  gc(network: string, valid: readonly AttachmentKey[]): Promise<void>;
  /** What CHECK finds missing, as readable phrases (empty = everything is there). */
  missing(a: Attachment, want: Want): Promise<string[]>;
}

export type FirewallDrivers<Want> = Record<FirewallBackend, FirewallDriver<Want>>;

/**
 * A driver whose ADD and CHECK half is a module loaded on first use: those halves parse the pod's
 * addresses (lib/net/address.ts), which DEL and GC, finding rules by name and comment alone, never
 * need to load.
 */
export const withSetupLoadedLater = <W>(
  removal: Pick<FirewallDriver<W>, 'teardown' | 'gc'>,
  loadSetup: () => Promise<Pick<FirewallDriver<W>, 'setup' | 'missing'>>,
): FirewallDriver<W> => ({
  ...removal,
  setup: async (a, want) => (await loadSetup()).setup(a, want),
  missing: async (a, want) => (await loadSetup()).missing(a, want),
});

/** DEL: the attachment's rules in every backend, in parallel. */
export const teardownEveryBackend = <W>(drivers: FirewallDrivers<W>, what: string, a: Attachment): Promise<void> =>
  settleThenThrowJoined(
    FIREWALL_BACKENDS.map((b) => () => drivers[b].teardown(a)),
    what,
  );

/** GC: stale attachments of `network` in every backend, in parallel. */
export const gcEveryBackend = <W>(
  drivers: FirewallDrivers<W>,
  what: string,
  network: string,
  valid: readonly AttachmentKey[],
): Promise<void> =>
  settleThenThrowJoined(
    FIREWALL_BACKENDS.map((b) => () => drivers[b].gc(network, valid)),
    what,
  );

/** CHECK with the chosen backend: a CheckFailed error listing what is missing. */
export async function checkWithBackend<W>(
  drivers: FirewallDrivers<W>,
  backend: FirewallBackend,
  what: string,
  a: Attachment,
  want: W,
): Promise<void> {
  const missing = await drivers[backend].missing(a, want);
  if (missing.length)
    throw new CniError(ErrorCode.CheckFailed, `${what} for ${a.containerID}/${a.ifname} incomplete: missing ${missing.join(', ')}`);
}

/**
 * Read the current state, plan the change from it, apply the plan; read and plan again when the
 * write failed, because another process (a concurrent ADD/DEL, kube-proxy) may have changed the
 * table between our read and our write — e.g. deleted a rule handle we meant to delete.
 * `plan` returns null when there is nothing to do. The last failure is rethrown.
 */
export async function readPlanApply<State, Plan>(step: {
  read: () => Promise<State>;
  plan: (state: State) => Plan | null;
  apply: (plan: Plan) => Promise<void>;
  tries?: number;
}): Promise<void> {
  const tries = step.tries ?? 3;
  for (let attempt = 1; ; attempt++) {
    const plan = step.plan(await step.read());
    if (plan === null) return;
    try {
      await step.apply(plan);
      return;
    } catch (e) {
      if (attempt >= tries) throw e;
    }
  }
}
