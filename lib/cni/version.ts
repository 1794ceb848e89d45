// CNI spec versions this plugin set speaks, and the per-command version gates.

export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const CURRENT_VERSION: CniVersion = '1.1.0';

export function isSupportedVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Parse "x.y.z" into numbers; null when it is not a semver triple. */
export function parseSemver(v: string): [number, number, number] | null {
  const m = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

export function compareVersions(a: string, b: string): number {
  const pa = parseSemver(a) ?? [0, 0, 0];
  const pb = parseSemver(b) ?? [0, 0, 0];
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return 0;
}

export const versionAtLeast = (v: string, min: string): boolean => compareVersions(v, min) >= 0;

/** Result shape family of a version. */
export type ResultShape = 'legacy' | 'current' | 'v1';
export function resultShapeOf(v: string): ResultShape {
  if (compareVersions(v, '0.3.0') < 0) return 'legacy';
  if (compareVersions(v, '1.0.0') < 0) return 'current';
  return 'v1';
}
