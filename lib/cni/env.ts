// The CNI_* environment: which variables each command needs (the CNI specification's parameter table) and the identifier rules.
import { CniError, ErrorCode } from './errors.ts';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'] as const;
export type Command = (typeof COMMANDS)[number];

export const isCommand = (c: unknown): c is Command => typeof c === 'string' && (COMMANDS as readonly string[]).includes(c);

/** Required variables per command, from the spec table (CNI_PATH only where the spec requires it). */
const REQUIRED: Record<Command, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  GC: ['CNI_PATH'],
  STATUS: [],
  VERSION: [],
};

export interface CniEnv {
  command: Command;
  containerID: string;
  netns: string;
  ifname: string;
  args: string;
  path: string[];
}

const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function validateContainerID(id: string): void {
  if (!ID_RE.test(id)) {
    throw new CniError(ErrorCode.InvalidEnvironment, 'invalid characters in CNI_CONTAINERID', `"${id}" must match ${ID_RE.source}`);
  }
}

/**
 * Interface name rules of the Go library (non-empty, at most 15 bytes, not "." or "..", no "/",
 * ":" or whitespace), plus: no quote, backslash or "#", which `ip -batch` would interpret.
 */
export function validateIfname(name: string, what = 'CNI_IFNAME'): void {
  const fail = (why: string) => {
    throw new CniError(ErrorCode.InvalidEnvironment, `invalid ${what} "${name}": ${why}`);
  };
  if (name === '') fail('empty');
  if (new TextEncoder().encode(name).length > 15) fail('longer than 15 bytes');
  if (name === '.' || name === '..') fail('"." and ".." are not interface names');
  if (/[\s/:]/u.test(name)) fail('contains "/", ":" or whitespace');
  if (/["'\\#\p{Cc}]/u.test(name)) fail('contains a quote, backslash, "#" or control character');
}

export function readEnv(env: NodeJS.ProcessEnv, command: Command): CniEnv {
  const missing = REQUIRED[command].filter((k) => !env[k]);
  if (missing.length) {
    throw new CniError(ErrorCode.InvalidEnvironment, `required env variables [${missing.join(',')}] missing`);
  }
  const containerID = env.CNI_CONTAINERID ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  if (command === 'ADD' || command === 'DEL' || command === 'CHECK') {
    validateContainerID(containerID);
    validateIfname(ifname);
  }
  return {
    command,
    containerID,
    netns: env.CNI_NETNS ?? '',
    ifname,
    args: env.CNI_ARGS ?? '',
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
  };
}
