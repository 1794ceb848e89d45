// Types of the parts of QuickJS's `os` module lib/platform/qjs/prelude.ts uses. Imported as 'qjs:os' (the
// standalone build maps it to QuickJS's 'os'; plain 'os' would mean Node's module to TypeScript).
declare module 'qjs:os' {
  export const O_RDONLY: number;
  export function open(path: string, flags: number, mode?: number): number;
  export function close(fd: number): number;
  export function read(fd: number, buffer: ArrayBuffer, offset: number, length: number): number;
  export function pipe(): [number, number] | null;
  export function exec(
    args: string[],
    options: {
      block?: boolean;
      usePath?: boolean;
      file?: string;
      stdin?: number;
      stdout?: number;
      stderr?: number;
      env?: Record<string, string>;
    },
  ): number;
  export function waitpid(pid: number, options: number): [number, number];
  export function setReadHandler(fd: number, fn: (() => void) | null): void;
  export function setWriteHandler(fd: number, fn: (() => void) | null): void;
  export function setTimeout(fn: () => void, ms: number): unknown;
  export function clearTimeout(handle: unknown): void;
}
