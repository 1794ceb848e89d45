// Types of scripts/ip-num-build.mjs for the TypeScript tests.
export function lazyStatics(src: string): { code: string; count: number };
export const UNUSED_CLASSES: string[];
export function emptyClasses(src: string, names: string[]): { code: string; count: number };
export const DERIVED: Array<{ what: string; from: string; to: string }>;
export const DERIVED_PROPERTIES: Array<{ cls: string; key: string }>;
export function deriveOnRead(src: string): { code: string; count: number };
export const HOISTED_REGEXPS: Array<{ literal: string; use: 'test' | 'replace' | 'match' }>;
export function hoistRegExps(src: string): { code: string; count: number };
export function ipNumForBuild(src: string): string;
export const ipNumBuild: { name: string; setup(build: unknown): void };
