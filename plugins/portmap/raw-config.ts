// portmap's config keys checked against its zod schema (./schema.ts) by the parser compiled at build
// time, without the address code: STATUS needs only this (plugins/portmap/status.ts).
import { parse as compiledPortmapConfig } from 'cni-ts:compiled/portmapConfigSchema';
import { parseConfig, type Validator } from '../../lib/cni/config.ts';
import type { RawPortmapConfig } from './schema.ts';

export type { RawPortmapConfig };

const portmapConfig: Validator<RawPortmapConfig> = {
  compiled: compiledPortmapConfig,
  schema: () => import('./schema.ts').then((m) => m.portmapConfigSchema),
};

export const parseRawPortmapConfig = (config: unknown): Promise<RawPortmapConfig> => parseConfig(portmapConfig, config);
