// The protocol core every plugin runs through (the equivalent of Go's skel): command and
// environment validation, stdin decoding, version gates, the netns safety check, then the
// plugin's handler, and finally exactly one JSON document (result or error) on stdout.

import { inspectNetns, type NetnsState } from '../kernel/netns.ts';
import { warn } from '../platform/output.ts';
import { UndoStack } from '../platform/steps.ts';
import { parseCniArgs } from './cni-args.ts';
import { type CniEnv, type Command, isCommand, readEnv } from './env.ts';
import { CniError, ErrorCode, preview, toErrorJson } from './errors.ts';
import { formatResult } from './result-format.ts';
import type { Result } from './types.ts';
import { type CniVersion, CURRENT_VERSION, isSupportedVersion, parseSemver, SUPPORTED_VERSIONS, versionAtLeast } from './version.ts';

export interface Request {
  command: Command;
  env: CniEnv;
  /** The config's cniVersion (results are printed in exactly this version). */
  version: CniVersion;
  /** The decoded network config object, as received. */
  config: Record<string, unknown>;
  /** The raw stdin bytes, passed unchanged to delegated plugins. */
  stdin: Uint8Array;
  cniArgs: Map<string, string>;
  netnsState: NetnsState;
  /** The process environment, passed on to delegates. */
  processEnv: NodeJS.ProcessEnv;
}

export interface Plugin {
  name: string;
  /**
   * false for plugins that never enter CNI_NETNS (IPAM): like the reference host-local they accept
   * any CNI_NETNS value, e.g. a path only the calling plugin can see.
   */
  entersNetns?: boolean;
  /**
   * false for plugins that, like their reference (portmap, loopback), never read CNI_ARGS: any
   * value is accepted there, and `cniArgs` is empty.
   */
  readsCniArgs?: boolean;
  add(req: Request): Promise<Result>;
  del(req: Request): Promise<void>;
  check(req: Request): Promise<void>;
  gc(req: Request): Promise<void>;
  status(req: Request): Promise<void>;
}

export interface Outcome {
  stdout: string;
  exitCode: number;
}

const MAX_STDIN = 64 * 1024 * 1024;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function decodeConfig(stdin: Uint8Array): Record<string, unknown> {
  if (stdin.length > MAX_STDIN) throw new CniError(ErrorCode.IoFailure, `network config larger than ${MAX_STDIN} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(stdin);
  } catch {
    throw new CniError(ErrorCode.DecodingFailure, 'network config is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const why = e instanceof RangeError ? 'nested too deeply' : (e as Error).message.split('\n')[0];
    throw new CniError(ErrorCode.DecodingFailure, 'failed to decode network config JSON', why);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CniError(ErrorCode.DecodingFailure, 'network config must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** The config's version: missing means 0.1.0 (as in Go); must be a supported semver string. */
function configVersion(config: Record<string, unknown>): CniVersion {
  const v = config.cniVersion ?? '0.1.0';
  if (typeof v !== 'string' || parseSemver(v) === null) {
    throw new CniError(ErrorCode.DecodingFailure, `invalid cniVersion ${preview(v, 50)}`);
  }
  if (!isSupportedVersion(v)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      'incompatible CNI versions',
      `config is "${v}", plugin supports [${SUPPORTED_VERSIONS.join(' ')}]`,
    );
  }
  return v;
}

const MIN_VERSION: Partial<Record<Command, string>> = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' };

function refuseNetns(command: Command, env: CniEnv): NetnsState {
  const state = inspectNetns(env.netns);
  if (state === 'own') {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      "CNI_NETNS is the plugin's own network namespace",
      `refusing ${command} on ${env.netns}`,
    );
  }
  if (state === 'not-netns') {
    // DEL may find the runtime's netns file already unmounted (the empty file a crash between
    // umount and unlink leaves behind): there is nothing to enter, but DEL must still release
    // leases and host-side state, or the pod can never be deleted. Treat it as gone.
    if (command === 'DEL') return 'missing';
    throw new CniError(ErrorCode.InvalidEnvironment, `CNI_NETNS "${env.netns}" is not a network namespace`);
  }
  if (state === 'missing' && command !== 'DEL') {
    throw new CniError(ErrorCode.UnknownContainer, `network namespace "${env.netns}" does not exist`);
  }
  return state;
}

/** Run one CNI invocation. Pure with respect to I/O: the caller writes stdout and exits. */
export async function dispatch(plugin: Plugin, processEnv: NodeJS.ProcessEnv, readStdin: () => Uint8Array): Promise<Outcome> {
  let version: string = CURRENT_VERSION;
  try {
    const command = processEnv.CNI_COMMAND;
    if (!isCommand(command)) {
      throw new CniError(
        ErrorCode.InvalidEnvironment,
        command ? `unknown CNI_COMMAND "${command.slice(0, 20)}"` : 'required env variables [CNI_COMMAND] missing',
        `supported commands: ADD, DEL, CHECK, GC, STATUS, VERSION`,
      );
    }
    if (command === 'VERSION') {
      // Echo the requested version when it is one of ours (spec); otherwise our newest.
      let requested: unknown;
      try {
        requested = decodeConfig(readStdin()).cniVersion;
      } catch {
        /* VERSION ignores a missing or unreadable config */
      }
      const cniVersion = isSupportedVersion(requested) ? requested : CURRENT_VERSION;
      return { stdout: JSON.stringify({ cniVersion, supportedVersions: SUPPORTED_VERSIONS }), exitCode: 0 };
    }
    const env = readEnv(processEnv, command);
    let stdin: Uint8Array;
    try {
      stdin = readStdin();
    } catch (e) {
      throw new CniError(ErrorCode.IoFailure, 'failed to read network config from stdin', (e as Error).message);
    }
    const config = decodeConfig(stdin);
    const cfgVersion = configVersion(config);
    version = cfgVersion;
    const name = config.name;
    if (name === undefined || name === '') throw new CniError(ErrorCode.InvalidConfig, 'missing network name');
    if (typeof name !== 'string' || !NAME_RE.test(name)) {
      throw new CniError(ErrorCode.InvalidConfig, `invalid network name ${preview(name, 80)}`, `must match ${NAME_RE.source}`);
    }
    const min = MIN_VERSION[command];
    if (min && !versionAtLeast(cfgVersion, min)) {
      throw new CniError(
        ErrorCode.IncompatibleVersion,
        `config version "${cfgVersion}" does not allow ${command}`,
        `${command} needs ${min} or later`,
      );
    }
    const cniArgs = plugin.readsCniArgs === false ? new Map<string, string>() : parseCniArgs(env.args);
    const inspectsNetns = plugin.entersNetns !== false && (command === 'ADD' || command === 'CHECK' || command === 'DEL');
    const netnsState = inspectsNetns ? refuseNetns(command, env) : 'none';
    const req: Request = { command, env, version: cfgVersion, config, stdin, cniArgs, netnsState, processEnv };
    switch (command) {
      case 'ADD': {
        const result = await plugin.add(req);
        // The attachment exists but may not be expressible in the requested version (e.g. no
        // address for a 0.1.0/0.2.0 result): then it is undone like any failed ADD, with the plugin's DEL.
        const undo = new UndoStack();
        undo.push('attachment', () => plugin.del({ ...req, command: 'DEL' }));
        const printable = await undo.guard(async () => formatResult(result, cfgVersion));
        return { stdout: JSON.stringify(printable, null, 2), exitCode: 0 };
      }
      case 'DEL':
        await plugin.del(req);
        return { stdout: '', exitCode: 0 };
      case 'CHECK':
        await plugin.check(req);
        return { stdout: '', exitCode: 0 };
      case 'GC':
        await plugin.gc(req);
        return { stdout: '', exitCode: 0 };
      case 'STATUS':
        await plugin.status(req);
        return { stdout: '', exitCode: 0 };
    }
  } catch (err) {
    if (!(err instanceof CniError))
      warn(`${plugin.name}: internal error: ${(err as Error)?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(err)}\n`);
    return { stdout: JSON.stringify(toErrorJson(err, version)), exitCode: 1 };
  }
}
