// Types of scripts/release.mjs for the TypeScript tests.
export function archiveName(arch: string, version: string): string;
export function parseArgs(argv: string[]): { arches: string[]; out: string };
export function packArchive(arch: string, version: string, out: string): string;
