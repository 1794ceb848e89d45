// BIRD 2 daemons for integration tests: each runs inside a node namespace the test made, with its
// configuration, control socket, pid file and log in the test's temp directory, and is stopped by
// its pid file (never by name: other BIRDs on the machine are not ours).
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Netns, ROOT, sh, trySh } from './kernel.ts';

export const BIRD = '/usr/sbin/bird';
export const BIRDC = '/usr/sbin/birdc';
export const haveBird = existsSync(BIRD) && existsSync(BIRDC);
/** The example configuration the tests run: the same files an operator installs. */
export const BIRD_EXAMPLES = join(ROOT, 'examples/bird');

/** One node's values, as `examples/bird/node-conf.sh` takes them. */
export interface BirdNodeValues {
  address4?: string;
  pool4?: string;
  block4?: string;
  address6?: string;
  pool6?: string;
  block6?: string;
  peers4?: string[];
  peers6?: string[];
  routerId?: string;
  holdTime?: number;
  keepaliveTime?: number;
  log?: string;
}

export function nodeConfArgs(v: BirdNodeValues): string[] {
  const args: string[] = [];
  const opt = (name: string, value: string | number | undefined) => {
    if (value !== undefined) args.push(`--${name}`, String(value));
  };
  opt('address4', v.address4);
  opt('pool4', v.pool4);
  opt('block4', v.block4);
  opt('address6', v.address6);
  opt('pool6', v.pool6);
  opt('block6', v.block6);
  for (const p of v.peers4 ?? []) opt('peer4', p);
  for (const p of v.peers6 ?? []) opt('peer6', p);
  opt('router-id', v.routerId);
  opt('hold-time', v.holdTime);
  opt('keepalive-time', v.keepaliveTime);
  opt('log', v.log);
  return args;
}

/** A node's BIRD configuration, written by the example's own generator. */
export function nodeConf(v: BirdNodeValues): string {
  return sh(join(BIRD_EXAMPLES, 'node-conf.sh'), nodeConfArgs(v));
}

export interface BirdProtocol {
  name: string;
  proto: string;
  state: string;
  info: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it returns a value other than undefined/false, or fails with `what` and the
 * last value seen after `ms` milliseconds.
 */
export async function waitFor<T>(what: string, ms: number, probe: () => T | undefined | false, describe?: () => string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${describe ? `\n${describe()}` : ''}`);
    await sleep(100);
  }
}

/** Signals a process; one that has just exited on its own is fine. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** A BIRD daemon in a node namespace, run in the foreground as this process's child. */
export class Bird {
  readonly conf: string;
  readonly socket: string;
  readonly pidFile: string;
  readonly log: string;
  private readonly output: string;
  private child?: ChildProcess;
  private exited?: Promise<void>;

  constructor(
    readonly node: Netns,
    dir: string,
    readonly label: string,
    values: BirdNodeValues,
  ) {
    this.conf = join(dir, `${label}.conf`);
    this.socket = join(dir, `${label}.ctl`);
    this.pidFile = join(dir, `${label}.pid`);
    this.log = join(dir, `${label}.log`);
    this.output = join(dir, `${label}.out`);
    writeFileSync(this.conf, nodeConf({ ...values, log: this.log }));
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts BIRD and waits for its control socket to answer. */
  async start(): Promise<void> {
    if (this.child) throw new Error(`bird ${this.label} is already running`);
    const out = openSync(this.output, 'a');
    // `ip netns exec` execs bird itself: the child's pid is BIRD's (and the pid file's).
    const child = spawn('ip', ['netns', 'exec', this.node.name, BIRD, '-f', '-c', this.conf, '-s', this.socket, '-P', this.pidFile], {
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (this.child === child) this.child = undefined;
    });
    await waitFor(
      `bird ${this.label} to answer on ${this.socket}`,
      10_000,
      () => {
        if (!this.child) throw new Error(`bird ${this.label} exited at start:\n${this.startupOutput()}`);
        return trySh(BIRDC, ['-s', this.socket, 'show', 'status']).stdout.includes('Daemon is up and running');
      },
      () => this.startupOutput(),
    );
  }

  private startupOutput(): string {
    const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
    return `${read(this.output)}${read(this.log)}`;
  }

  /**
   * Stops BIRD as a service manager would (SIGTERM: a clean shutdown that tells its peers), by the
   * pid in its pid file; SIGKILL if it has not exited after 10 s.
   */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const fromFile = existsSync(this.pidFile) ? Number(readFileSync(this.pidFile, 'utf8').trim()) : undefined;
    // The pid file is BIRD's own; it must name the process this object started.
    const pid = fromFile === child.pid ? fromFile : child.pid;
    if (pid === undefined) return;
    signal(pid, 'SIGTERM');
    const done = await Promise.race([this.exited!.then(() => true), sleep(10_000).then(() => false)]);
    if (!done) {
      signal(pid, 'SIGKILL');
      await this.exited;
    }
  }

  birdc(...args: string[]): string {
    return sh(BIRDC, ['-s', this.socket, ...args]);
  }

  /** `show protocols`, parsed. */
  protocols(): BirdProtocol[] {
    const lines = this.birdc('show', 'protocols').split('\n').slice(2);
    return lines
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 5)
      .map(([name, proto, _table, state, _since, ...info]) => ({ name: name!, proto: proto!, state: state!, info: info.join(' ') }));
  }

  /** Whether every BGP session is Established. */
  allEstablished(): boolean {
    const bgp = this.protocols().filter((p) => p.proto === 'BGP');
    return bgp.length > 0 && bgp.every((p) => p.state === 'up' && p.info.startsWith('Established'));
  }
}

/** The BIRDs one test started; `stopAll()` in afterEach, before the namespaces go. */
export class Birds {
  private all: Bird[] = [];
  add(bird: Bird): Bird {
    this.all.push(bird);
    return bird;
  }
  async stopAll(): Promise<void> {
    for (const b of this.all.splice(0)) await b.stop();
  }
}
