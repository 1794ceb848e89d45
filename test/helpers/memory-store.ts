// host-local's lease store in memory, for unit tests of the allocator and anything else that
// talks to LeaseStore / LeaseAdmin. A lease holds the text a lease file would ("<id>\r\n<ifname>",
// legacy "<id>", or "" when a writer crashed), so tests plant the same contents in either store.
// test/unit/lease-store-contract.test.ts holds it to the disk store's behaviour.
import { leaseContent, parseLeaseContent } from '../../ipam/disk-store.ts';
import type { Lease, LeaseAdmin, LeaseStore, Owner } from '../../ipam/lease-store.ts';
import type { Attachment } from '../../lib/cni/types.ts';
import { formatIP, type IP, parseIP } from '../../lib/net/address.ts';

export class MemoryStore implements LeaseStore, LeaseAdmin {
  /** Address (Go's text form) → lease content. */
  readonly leaseContents = new Map<string, string>();
  /** Range set index → the last address reserved in it. */
  readonly last = new Map<number, string>();
  /** Addresses that look free to isLeased() but are taken when reserve() tries them (a concurrent writer). */
  readonly hidden = new Set<string>();

  isLeased(ip: IP): boolean {
    return this.leaseContents.has(formatIP(ip));
  }

  reserve(ip: IP, owner: Owner, setIndex: number): boolean {
    const name = formatIP(ip);
    if (this.leaseContents.has(name) || this.hidden.has(name)) return false;
    this.leaseContents.set(name, leaseContent(owner));
    this.last.set(setIndex, name);
    return true;
  }

  release(ip: IP): void {
    this.leaseContents.delete(formatIP(ip));
  }

  lastReserved(setIndex: number): IP | undefined {
    const name = this.last.get(setIndex);
    return name === undefined ? undefined : parseIP(name)!;
  }

  leasesOf(owner: Owner): IP[] {
    return this.leases()
      .filter((l) => this.heldExactly(l, owner) || this.heldAsLegacy(l, owner))
      .map((l) => l.ip);
  }

  leases(): Lease[] {
    return [...this.leaseContents].map(([name, content]) => ({ ip: parseIP(name)!, name, owner: parseLeaseContent(content) }));
  }

  leasedAddresses(): IP[] {
    return [...this.leaseContents.keys()].map((name) => parseIP(name)!);
  }

  leaseCountAtMost(): number {
    return this.leaseContents.size;
  }

  releaseByOwner(owner: Owner): string[] {
    const all = this.leases();
    let victims = all.filter((l) => this.heldExactly(l, owner));
    if (!victims.length) victims = all.filter((l) => this.heldAsLegacy(l, owner));
    for (const v of victims) this.leaseContents.delete(v.name);
    return victims.map((v) => v.name);
  }

  collectGarbage(valid: Attachment[]): Lease[] {
    const kept = (l: Lease) => valid.some((a) => (l.owner?.ifname === undefined ? this.heldAsLegacy(l, a) : this.heldExactly(l, a)));
    const victims = this.leases().filter((l) => !kept(l));
    for (const v of victims) this.leaseContents.delete(v.name);
    return victims;
  }

  private heldExactly(l: Lease, owner: Owner): boolean {
    return l.owner?.ifname !== undefined && l.owner.containerID === owner.containerID.trim() && l.owner.ifname === owner.ifname;
  }

  private heldAsLegacy(l: Lease, owner: Owner): boolean {
    return l.owner !== undefined && l.owner.ifname === undefined && l.owner.containerID === owner.containerID.trim();
  }
}
