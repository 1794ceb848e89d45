// Types of scripts/ip-num-build.mjs for the TypeScript tests.
export function lazyStatics(src: string): { code: string; count: number };
export const UNUSED_CLASSES: string[];
export function emptyClasses(src: string, names: string[]): { code: string; count: number };
export function ipNumForBuild(src: string): string;
export const ipNumBuild: { name: string; setup(build: unknown): void };
