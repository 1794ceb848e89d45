// What host-local needs from its lease storage, as two interfaces: `LeaseStore` is the allocator's
// view (ADD), `LeaseAdmin` what DEL, GC, CHECK and STATUS add to it. The disk store implements both
// in production (disk-store.ts), an in-memory double in the tests (test/helpers/memory-store.ts),
// and one contract suite runs against both (test/unit/lease-store-contract.test.ts).
//
// A lease records its owner as (container ID, ifname). Leases written by older plugins record only
// the container ID ("legacy" leases): they count as held by every ifname of that container.
// Callers hold the store's lock around every use.
import type { Attachment } from '../lib/cni/types.ts';
import type { IP } from '../lib/net/address.ts';

export interface Owner {
  containerID: string;
  ifname: string;
}

export interface LeaseStore {
  /** Is `ip` leased to anyone? (A hint to skip known leases; `reserve` is the authority.) */
  isLeased(ip: IP): boolean;
  /** Lease `ip` to `owner` atomically and remember it as set `setIndex`'s last reservation; false if already leased. */
  reserve(ip: IP, owner: Owner, setIndex: number): boolean;
  /** Drop one lease (rolls back a partial ADD). */
  release(ip: IP): void;
  lastReserved(setIndex: number): IP | undefined;
  /** Addresses leased to `owner`, including legacy leases that record only the container ID. */
  leasesOf(owner: Owner): IP[];
}

export interface Lease {
  ip: IP;
  /** The address in Go's text form (the lease file's name on disk). */
  name: string;
  /** undefined when the lease records no owner (empty or unreadable); `ifname` is absent in legacy leases. */
  owner?: { containerID: string; ifname?: string };
}

export interface LeaseAdmin {
  /** Every lease with its recorded owner. */
  leases(): Lease[];
  /** Every leased address, without reading who holds it (STATUS). */
  leasedAddresses(): IP[];
  /** At least the number of leases, found without parsing an address (STATUS). */
  leaseCountAtMost(): number;
  /**
   * Release every lease of (containerID, ifname); if there is none, the legacy leases recording
   * only the container ID (the reference's fallback). Returns the released addresses.
   */
  releaseByOwner(owner: Owner): string[];
  /**
   * Release every lease whose owner is not a valid attachment. A legacy lease is kept while any
   * attachment of its container is valid; a lease without owner goes. Returns the released leases.
   */
  collectGarbage(valid: Attachment[]): Lease[];
}
