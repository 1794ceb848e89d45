// The standalone build's own rtnetlink client: batches and queries without spawning `ip`, and
// sysctls inside a pod namespace without spawning `nsenter sysctl`. A CNI ADD would otherwise pay
// for four to six process starts; here each becomes a few system calls. Node cannot make these
// calls (no FFI), so under Node `available()` is false and lib/kernel/iproute.ts spawns `ip` as before.
//
// Namespaces: a netlink socket stays in the namespace it was created in, so a socket for a pod is
// made by switching this thread into the pod's namespace (setns), calling socket(), and switching
// back, all synchronously: nothing else (no spawned process, no other await) can run while the
// thread is away from the host namespace. Sysctls under /proc/sys/net resolve against the opening
// thread's namespace, so lib/kernel/sysctl.ts writes a pod's inside inNetns().

import { layout } from '../platform/arch.ts';
import { cpath, ERRNO, type Libc, libc, strerror } from '../platform/libc.ts';
import { warn } from '../platform/output.ts';
import { errnoOf, isDone, type Message, message, type NetlinkRequest, splitMessages } from './netlink-codec.ts';

const { AF_NETLINK, SOCK_RAW, SOCK_CLOEXEC, NETLINK_ROUTE, SOL_NETLINK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK } = layout.socket;
const { NETLINK_NETFILTER, NETLINK_CAP_ACK, SOL_SOCKET, SO_RCVTIMEO, MSG_DONTWAIT } = layout.socket;
const { SIOCGIFNAME, SIOCGIFINDEX } = layout.ioctl;
const { CLONE_NEWNET } = layout.misc;
const O_RDONLY_CLOEXEC = layout.open.O_RDONLY | layout.open.O_CLOEXEC;
const SOCK_RAW_CLOEXEC = SOCK_RAW | SOCK_CLOEXEC;
/** How long a netfilter answer may take before we stop waiting (a batch is answered within its send). */
const NETFILTER_TIMEOUT_MS = 5000;

/** libc, unless switched off (CNI_TS_NETLINK=0: use `ip`/`nsenter`/`sysctl` processes). */
function loadLibc(): Libc | null {
  return process.env.CNI_TS_NETLINK === '0' ? null : libc();
}

export const available = (): boolean => loadLibc() !== null;

/** The errno values callers decide on. */
/** The errno says the object is not there: no such file (a namespace path), process (route) or device. */
export const isMissingErrno = (errno: number): boolean => errno === ERRNO.ENOENT || errno === ERRNO.ESRCH || errno === ERRNO.ENODEV;

/** A failed system call or netlink request: the kernel's errno, and `text` that reads like iproute2's stderr. */
export class NetlinkError extends Error {
  constructor(
    readonly errno: number,
    readonly text: string,
  ) {
    super(text);
  }
}

/** Runs `fn` with this thread in the network namespace at `path`; always switches back. */
export function inNetns<T>(path: string, fn: (c: Libc) => T): T {
  const c = loadLibc()!;
  const home = c.open(cpath('/proc/thread-self/ns/net'), O_RDONLY_CLOEXEC, 0);
  if (home < 0) throw new NetlinkError(c.errno(), `cannot open own network namespace: ${strerror(c.errno())}`);
  try {
    const target = c.open(cpath(path), O_RDONLY_CLOEXEC, 0);
    if (target < 0) {
      const e = c.errno();
      throw new NetlinkError(e, `Cannot open network namespace "${path}": ${strerror(e)}`);
    }
    try {
      if (c.setns(target, CLONE_NEWNET) !== 0) {
        const e = c.errno();
        throw new NetlinkError(e, `setting the network namespace "${path}" failed: ${strerror(e)}`);
      }
    } finally {
      c.close(target);
    }
    try {
      return fn(c);
    } finally {
      // Must not fail: every later call of this process would act on the pod's namespace.
      if (c.setns(home, CLONE_NEWNET) !== 0) {
        warn(`fatal: cannot return to the host network namespace: ${strerror(c.errno())}\n`);
        process.exit(70);
      }
    }
  } finally {
    c.close(home);
  }
}

const sockets = new Map<string, number>();
let seq = Math.floor(Date.now() / 1000) & 0xffff;

/**
 * The route socket of a namespace ('' = ours), made once per process. Throws NetlinkError when
 * the namespace cannot be entered (gone, or not a network namespace).
 */
export function socketFor(netns: string): number {
  const known = sockets.get(netns);
  if (known !== undefined) return known;
  const make = (c: Libc): number => {
    const fd = c.socket(AF_NETLINK, SOCK_RAW_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw new NetlinkError(c.errno(), `cannot open netlink socket: ${strerror(c.errno())}`);
    c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, Uint8Array.of(1, 0, 0, 0), 4);
    // Let the kernel apply a dump request's filters (family, table): less to read and decode.
    c.setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, Uint8Array.of(1, 0, 0, 0), 4);
    return fd;
  };
  const fd = netns ? inNetns(netns, make) : make(loadLibc()!);
  sockets.set(netns, fd);
  return fd;
}

const recvBuffer = new Uint8Array(1 << 16);

/**
 * A test of one answer's payload — bytes `start`..`end` of `buf`, valid only during the call —
 * made before anything is allocated for it: a dump of hundreds of rules keeps the few it needs.
 */
export type PayloadFilter = (buf: Uint8Array, start: number, end: number) => boolean;

/** The messages of a received datagram that are control messages or pass `keep`, each copied out. */
function keptMessages(buf: Uint8Array, n: number, keep: PayloadFilter): Message[] {
  const out: Message[] = [];
  const v = new DataView(buf.buffer, buf.byteOffset, n);
  for (let off = 0; off + 16 <= n; ) {
    const len = v.getUint32(off, true);
    if (len < 16 || off + len > n) break;
    const type = v.getUint16(off + 4, true);
    if (type <= NLMSG_CONTROL_MAX || keep(buf, off + 16, off + len)) {
      out.push({ type, flags: v.getUint16(off + 6, true), seq: v.getUint32(off + 8, true), payload: buf.slice(off + 16, off + len) });
    }
    off += (len + 3) & ~3;
  }
  return out;
}
/** NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN. */
const NLMSG_CONTROL_MAX = 4;

/** Send one request; collect the answers up to its ACK (or NLMSG_DONE for a dump), only those that pass `keep`. */
function exchange(fd: number, bytes: Uint8Array, mySeq: number, who = 'RTNETLINK', keep?: PayloadFilter): Message[] {
  const c = loadLibc()!;
  if (c.send(fd, bytes, bytes.length, 0) < 0) throw new NetlinkError(c.errno(), `netlink send: ${strerror(c.errno())}`);
  const out: Message[] = [];
  for (;;) {
    const n = c.recv(fd, recvBuffer, recvBuffer.length, 0);
    if (n < 0) {
      const e = c.errno();
      if (e === ERRNO.EINTR) continue;
      throw new NetlinkError(e, `netlink receive: ${strerror(e)}`);
    }
    for (const m of keep ? keptMessages(recvBuffer, n, keep) : splitMessages(recvBuffer.slice(0, n))) {
      if (m.seq !== mySeq) continue; // a stale answer of an earlier request
      const errno = errnoOf(m);
      if (errno !== undefined) {
        if (errno === 0) return out;
        throw new NetlinkError(errno, `${who} answers: ${strerror(errno)}${extAckText(m)}`);
      }
      if (isDone(m)) return out;
      out.push(m);
    }
  }
}

/** The kernel's own explanation (NLMSGERR_ATTR_MSG), as iproute2 prints it. */
export function extAckText(m: Message): string {
  // nlmsgerr = errno (4) + the request's header (16) [+ payload unless capped]; then TLVs.
  if (!(m.flags & 0x100)) return ''; // NLM_F_CAPPED: we asked for ext ack, the kernel caps
  const v = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  let off = 20;
  while (off + 4 <= m.payload.length) {
    const len = v.getUint16(off, true);
    const type = v.getUint16(off + 2, true);
    if (len < 4) break;
    if (type === 1) return ` (${new TextDecoder().decode(m.payload.subarray(off + 4, off + len)).replace(/\0+$/, '')})`;
    off += (len + 3) & ~3;
  }
  return '';
}

/** Perform one request in a namespace ('' = ours), waiting for the kernel's ACK. */
export function perform(netns: string, req: NetlinkRequest): Message[] {
  const s = ++seq;
  return exchange(socketFor(netns), message(req.type, req.flags | 0x4 /* ACK */, s, req.fixed, req.attrs), s);
}

/** A dump request (flags DUMP). */
export function dump(netns: string, type: number, fixed: Uint8Array): Message[] {
  const s = ++seq;
  return exchange(socketFor(netns), message(type, 0x300, s, fixed), s);
}

/**
 * Interface name ↔ index through the socket's namespace (SIOCGIFNAME / SIOCGIFINDEX on the netlink
 * socket): one system call, where a GETLINK answer is a kilobyte of attributes to decode.
 * undefined when there is no such interface.
 */
export function ifNameOf(netns: string, index: number): string | undefined {
  const { bytes, name, ifindex } = layout.ifreq;
  const req = new Uint8Array(bytes);
  new DataView(req.buffer).setInt32(ifindex, index, true);
  if (loadLibc()!.ioctl(socketFor(netns), SIOCGIFNAME, req) !== 0) return undefined;
  const text = req.subarray(name);
  return new TextDecoder().decode(text.subarray(0, text.indexOf(0)));
}

export function ifIndexOf(netns: string, ifname: string): number | undefined {
  const { bytes, name, nameBytes, ifindex } = layout.ifreq;
  const req = new Uint8Array(bytes);
  const text = new TextEncoder().encode(ifname);
  if (text.length > nameBytes - 1) return undefined;
  req.set(text, name);
  if (loadLibc()!.ioctl(socketFor(netns), SIOCGIFINDEX, req) !== 0) return undefined;
  return new DataView(req.buffer).getInt32(ifindex, true);
}

// ---------------------------------------------------------------------------------------------
// NETLINK_NETFILTER: nf_tables transactions and queries (lib/firewall/nftables/ builds the messages)

let netfilterFd: number | undefined;

/** This namespace's netfilter socket, made once per process; acks carry no copy of the request. */
function netfilterSocket(): number {
  if (netfilterFd !== undefined) return netfilterFd;
  const c = loadLibc()!;
  const fd = c.socket(AF_NETLINK, SOCK_RAW_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) throw new NetlinkError(c.errno(), `cannot open netfilter netlink socket: ${strerror(c.errno())}`);
  c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, Uint8Array.of(1, 0, 0, 0), 4);
  c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, Uint8Array.of(1, 0, 0, 0), 4);
  const { bytes, sec, usec } = layout.timeval;
  const timeout = new Uint8Array(bytes);
  new DataView(timeout.buffer).setBigInt64(sec, BigInt(Math.floor(NETFILTER_TIMEOUT_MS / 1000)), true);
  new DataView(timeout.buffer).setBigInt64(usec, BigInt((NETFILTER_TIMEOUT_MS % 1000) * 1000), true);
  c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, bytes);
  netfilterFd = fd;
  return fd;
}

/** `count` consecutive sequence numbers; returns the first. */
export function reserveSeqs(count: number): number {
  const first = seq + 1;
  seq += count;
  return first;
}

/** What the kernel said about one message of a batch. */
export interface BatchAnswer {
  seq: number;
  errno: number;
  /** The kernel's explanation, if it gave one (extended ack), with a leading space. */
  detail: string;
}

/**
 * Send one nf_tables batch whose messages (sequence numbers `first`..`last`) all ask for an ACK,
 * and collect one answer per message. The kernel handles a batch inside the send call, so the
 * answers are queued when send returns; a commit that fails after every message was accepted adds
 * one more error (for the batch's first header). Returns every answer, in arrival order.
 */
export function netfilterBatch(bytes: Uint8Array, first: number, last: number): BatchAnswer[] {
  const c = loadLibc()!;
  const fd = netfilterSocket();
  if (c.send(fd, bytes, bytes.length, 0) < 0) throw new NetlinkError(c.errno(), `netfilter send: ${strerror(c.errno())}`);
  const answers: BatchAnswer[] = [];
  const pending = new Set<number>();
  for (let s = first; s <= last; s++) pending.add(s);
  for (;;) {
    // Wait only while an answer is missing; then take whatever else is already queued.
    const n = c.recv(fd, recvBuffer, recvBuffer.length, pending.size ? 0 : MSG_DONTWAIT);
    if (n < 0) {
      const e = c.errno();
      if (e === ERRNO.EINTR) continue;
      if (e === ERRNO.EAGAIN && !pending.size) return answers;
      throw new NetlinkError(e, e === ERRNO.EAGAIN ? 'netfilter: no answer from the kernel' : `netfilter receive: ${strerror(e)}`);
    }
    for (const m of splitMessages(recvBuffer.slice(0, n))) {
      const errno = errnoOf(m);
      if (errno === undefined || m.seq < first - 1 || m.seq > last + 1) continue; // not ours
      pending.delete(m.seq);
      answers.push({ seq: m.seq, errno, detail: extAckText(m) });
    }
  }
}

/** One query (a dump, or a single get) on the netfilter socket: its answers up to DONE or ACK (those that pass `keep`). */
export function netfilterQuery(request: (seq: number) => Uint8Array, keep?: PayloadFilter): Message[] {
  const s = ++seq;
  return exchange(netfilterSocket(), request(s), s, 'netfilter', keep);
}
