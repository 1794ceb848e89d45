// lib/cni/env.ts: required variables per command (the CNI specification's parameter table) and the identifier rules.
import { describe, expect, it } from 'vitest';
import { COMMANDS, type Command, isCommand, readEnv, validateContainerID, validateIfname } from '../../lib/cni/env.ts';
import { ErrorCode } from '../../lib/cni/errors.ts';
import { errorOf } from '../helpers/cni-error.ts';

const FULL = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'abc123',
  CNI_NETNS: '/var/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_ARGS: 'IgnoreUnknown=1',
  CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
};

describe('commands', () => {
  it('knows the six commands, case-sensitively', () => {
    expect([...COMMANDS].sort()).toEqual(['ADD', 'CHECK', 'DEL', 'GC', 'STATUS', 'VERSION']);
    for (const c of ['add', 'Add', 'DELETE', '', undefined, 'ADD ']) expect(isCommand(c)).toBe(false);
  });
});

describe('readEnv: required variables per command', () => {
  // The spec table; CNI_PATH is optional for ADD/DEL/CHECK in the spec (Go's skel requires it).
  const required: Record<Exclude<Command, 'VERSION'>, string[]> = {
    ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
    DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
    CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
    GC: ['CNI_PATH'],
    STATUS: [],
  };
  const optionalVars = ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH'];

  for (const [command, vars] of Object.entries(required) as [Command, string[]][]) {
    for (const v of vars) {
      for (const how of ['unset', 'empty'] as const) {
        it(`${command} with ${v} ${how} → code 4 naming it`, () => {
          const env: Record<string, string | undefined> = { ...FULL, CNI_COMMAND: command };
          if (how === 'unset') delete env[v];
          else env[v] = '';
          const e = errorOf(() => readEnv(env, command));
          expect(e.code).toBe(ErrorCode.InvalidEnvironment);
          expect(e.message).toContain(v);
        });
      }
    }
    it(`${command} names every missing variable at once`, () => {
      if (vars.length === 0) return expect(() => readEnv({ CNI_COMMAND: command }, command)).not.toThrow();
      const e = errorOf(() => readEnv({ CNI_COMMAND: command }, command));
      expect(e.message).toBe(`required env variables [${vars.join(',')}] missing`);
    });
    for (const v of optionalVars.filter((x) => !vars.includes(x))) {
      it(`${command} accepts ${v} unset`, () => {
        const env: Record<string, string | undefined> = { ...FULL, CNI_COMMAND: command };
        delete env[v];
        expect(() => readEnv(env, command)).not.toThrow();
      });
    }
  }

  it('returns the parsed environment', () => {
    expect(readEnv(FULL, 'ADD')).toEqual({
      command: 'ADD',
      containerID: 'abc123',
      netns: '/var/run/netns/x',
      ifname: 'eth0',
      args: 'IgnoreUnknown=1',
      path: ['/opt/cni/bin', '/usr/lib/cni'],
    });
  });

  it('splits CNI_PATH on ":" and drops empty entries', () => {
    expect(readEnv({ ...FULL, CNI_PATH: ':/a::/b:' }, 'ADD').path).toEqual(['/a', '/b']);
    expect(readEnv({ ...FULL, CNI_PATH: undefined }, 'ADD').path).toEqual([]);
  });

  it('does not validate container ids or interface names for GC and STATUS (libcni sends them empty)', () => {
    const env = { CNI_COMMAND: 'GC', CNI_CONTAINERID: '', CNI_NETNS: '', CNI_IFNAME: '', CNI_ARGS: '', CNI_PATH: '/opt/cni/bin' };
    expect(() => readEnv(env, 'GC')).not.toThrow();
    expect(() => readEnv({ ...env, CNI_COMMAND: 'STATUS' }, 'STATUS')).not.toThrow();
  });

  it('validates the container id and interface name for ADD, DEL and CHECK', () => {
    for (const command of ['ADD', 'DEL', 'CHECK'] as const) {
      expect(errorOf(() => readEnv({ ...FULL, CNI_CONTAINERID: '-bad' }, command)).code).toBe(4);
      expect(errorOf(() => readEnv({ ...FULL, CNI_IFNAME: 'eth/0' }, command)).code).toBe(4);
    }
  });
});

describe('container id rule ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$', () => {
  it.each(['a', '0', 'abc-DEF_1.2', 'cnitool-0123456789abcdef0123', 'a'.repeat(256)])('accepts %s', (id) => {
    expect(() => validateContainerID(id)).not.toThrow();
  });
  it.each(['', '-a', '_a', '.a', 'a b', 'a/b', 'a;b', 'ä', 'a\n', 'a:b'])('rejects %j with code 4', (id) => {
    expect(errorOf(() => validateContainerID(id)).code).toBe(ErrorCode.InvalidEnvironment);
  });
});

describe('interface name rules', () => {
  it.each(['eth0', 'e', 'a'.repeat(15), 'net1.100', 'veth-x_y', 'ü'.repeat(7)])('accepts %s', (name) => {
    expect(() => validateIfname(name)).not.toThrow();
  });
  it.each([
    ['', 'empty'],
    ['a'.repeat(16), '16 bytes'],
    ['ü'.repeat(8), '16 bytes of UTF-8'],
    ['.', 'dot'],
    ['..', 'dot-dot'],
    ['a/b', 'slash'],
    ['a:b', 'colon'],
    ['a b', 'space'],
    ['a\tb', 'tab'],
    ['a\nb', 'newline'],
    ['a"b', 'quote (ip -batch)'],
    ["a'b", 'single quote'],
    ['a\\b', 'backslash'],
    ['a#b', 'hash (ip -batch comment)'],
    ['a\u0000b', 'NUL'],
  ])('rejects %j (%s) with code 4 naming the variable', (name) => {
    const e = errorOf(() => validateIfname(name));
    expect(e.code).toBe(ErrorCode.InvalidEnvironment);
    expect(e.message).toContain('CNI_IFNAME');
  });
});
