// Types of scripts/bench.mjs for the TypeScript tests.
export interface Summary {
  n: number;
  median: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
}
export const BUILDS: Record<'reference' | 'bundle' | 'standalone', string>;
export function quantile(sorted: number[], q: number): number;
export function summarize(samples: number[]): Summary;
export function scenarios(dataRoot: string): Array<{
  id: string;
  label: string;
  plugin: string;
  builds: string[];
  config: (slot: number, build?: string) => Record<string, any>;
  next?: (slot: number, build?: string) => Array<{ plugin: string; config: Record<string, any> }>;
}>;
export function renderMarkdown(report: unknown): string;
export interface ScaleChain {
  id: string;
  label: string;
  cniVersion: string;
  name: string;
  plugins: Array<{ type: string; config: Record<string, any> }>;
}
export function scaleChains(backend: 'iptables' | 'nftables', dataDir: string, withPortmap: boolean): ScaleChain[];
export function renderScale(scaleReport: unknown, sizes: number[]): string[];
