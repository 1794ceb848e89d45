// Types of scripts/apt-sources.mjs for the TypeScript tests.
export function isDebianSuite(suite: string): boolean;
export function debianArchives(files: { name: string; text: string }[]): string[];
export function readAptSources(etc?: string): { name: string; text: string }[];
