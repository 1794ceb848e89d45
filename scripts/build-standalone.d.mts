// Types of scripts/build-standalone.mjs for the TypeScript tests.
export const MULTICALL: string;
export const ARCHES: ('amd64' | 'arm64')[];
export const HOST_ARCH: 'amd64' | 'arm64' | undefined;
export function standaloneDir(root: string, arch?: string): string;
export function buildStandalone(opts: {
  root: string;
  plugins: string[];
  esbuildPlugins?: unknown[];
  arch?: string;
  outDir?: string;
  entry?: string;
  executable?: string;
  links?: boolean;
}): Promise<void>;
