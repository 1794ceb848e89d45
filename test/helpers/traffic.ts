// Real traffic between test namespaces: small TCP/UDP servers that answer with a fixed word (so a
// test knows which pod answered), a client that returns the answer ('' when nothing answers), and
// a "remote host" namespace linked to a node namespace, for traffic that arrives from outside.
// Servers and clients are Node one-liners run with `ip netns exec`.
import { type ChildProcess, spawn } from 'node:child_process';
import { type Netns, uniqueName, type World } from './kernel.ts';

const SERVER = `
const [proto, port, reply] = process.argv.slice(1);
if (proto === 'tcp') {
  const s = require('net').createServer((c) => { c.on('error', () => {}); c.end(reply); });
  s.listen({ port: +port, host: '::', ipv6Only: false }, () => console.log('READY'));
} else {
  let ready = 0;
  for (const type of ['udp4', 'udp6']) {
    const s = require('dgram').createSocket(type === 'udp6' ? { type, ipv6Only: true } : { type });
    s.on('message', (m, r) => s.send(reply, r.port, r.address));
    s.bind(+port, () => { if (++ready === 2) console.log('READY'); });
  }
}`;

const CLIENT = `
const [proto, host, port, sport] = process.argv.slice(1);
const done = (s) => { process.stdout.write(s); process.exit(0); };
setTimeout(() => done(''), 2000);
if (proto === 'tcp') {
  let b = '';
  const c = require('net').connect({ host, port: +port });
  c.on('data', (d) => (b += d)); c.on('end', () => done(b)); c.on('error', () => done(''));
} else {
  const s = require('dgram').createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.on('message', (m) => done(String(m)));
  s.on('error', () => done(''));
  // A datagram may go to neighbour discovery: send a few.
  s.bind(sport ? +sport : 0, () => { for (let i = 0; i < 4; i++) setTimeout(() => s.send('ping', +port, host), i * 300); });
}`;

export type Proto = 'tcp' | 'udp';

export class Servers {
  private children: ChildProcess[] = [];

  /**
   * A server in `where` (a namespace, or the network namespace of a process id, e.g. a pod
   * sandbox's) on `port` (both families) answering every connection or datagram with `reply`.
   */
  async start(where: Netns | number, proto: Proto, port: number, reply: string): Promise<void> {
    const enter = typeof where === 'number' ? ['nsenter', `--target=${where}`, '--net', '--'] : ['ip', 'netns', 'exec', where.name];
    const name = typeof where === 'number' ? `pid ${where}` : where.name;
    const child = spawn(enter[0]!, [...enter.slice(1), process.execPath, '-e', SERVER, proto, String(port), reply], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`server ${proto}/${port} in ${name} did not start: ${out}`)), 10_000);
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('READY')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr!.on('data', (d) => (out += d));
      child.on('exit', () => reject(new Error(`server ${proto}/${port} in ${name} exited: ${out}`)));
    });
  }

  stopAll(): void {
    for (const c of this.children.splice(0)) c.kill('SIGKILL');
  }
}

/** From `ns`, ask `host:port`; resolves with the answer, or '' when nothing answered within 2 s. */
export function ask(ns: Netns, proto: Proto, host: string, port: number, sourcePort?: number): Promise<string> {
  const args = [
    'netns',
    'exec',
    ns.name,
    process.execPath,
    '-e',
    CLIENT,
    proto,
    host,
    String(port),
    ...(sourcePort ? [String(sourcePort)] : []),
  ];
  return new Promise((resolve) => {
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', () => resolve(out));
  });
}

/** A remote host's addresses and the node's address on the link to it. */
export const REMOTE = { v4: '198.51.100.2', v6: '2001:db8:1::2', nodeV4: '198.51.100.1', nodeV6: '2001:db8:1::1' };

/**
 * A namespace linked to `node` by a veth pair, routing everything through the node (another host
 * on the node's network). `nodeLink` is the node's end (a veth that is not a pod's).
 */
export function remoteHost(world: World, node: Netns): Netns & { nodeLink: string } {
  const remote = world.netns('cnitsr');
  const nodeSide = uniqueName('rm');
  node.ip('link', 'add', nodeSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', remote.name);
  node.ip('addr', 'add', `${REMOTE.nodeV4}/24`, 'dev', nodeSide);
  node.ip('-6', 'addr', 'add', `${REMOTE.nodeV6}/64`, 'dev', nodeSide, 'nodad');
  node.ip('link', 'set', nodeSide, 'up');
  remote.ip('addr', 'add', `${REMOTE.v4}/24`, 'dev', 'eth0');
  remote.ip('-6', 'addr', 'add', `${REMOTE.v6}/64`, 'dev', 'eth0', 'nodad');
  remote.ip('link', 'set', 'eth0', 'up');
  remote.ip('route', 'add', 'default', 'via', REMOTE.nodeV4);
  remote.ip('-6', 'route', 'add', 'default', 'via', REMOTE.nodeV6);
  return Object.assign(remote, { nodeLink: nodeSide });
}

/**
 * Wait (up to 5 s) until no IPv6 address in `ns` is tentative. A new bridge's link-local address
 * runs DAD for about a second, and until then the node cannot send neighbour solicitations from
 * it: IPv6 packets it forwards to a pod are lost. (A real node's bridge is older than its pods.)
 */
export async function ipv6Settled(...namespaces: Netns[]): Promise<void> {
  for (let waited = 0; waited < 5000; waited += 100) {
    if (namespaces.every((ns) => ns.ip('-6', 'addr', 'show', 'tentative').trim() === '')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('IPv6 addresses still tentative after 5 s');
}
