// Placeholder until the bridge implementation lands.
import type { Plugin } from '../../lib/dispatch.ts';
import { CniError, ErrorCode } from '../../lib/errors.ts';

const notYet = async (): Promise<never> => {
  throw new CniError(ErrorCode.Internal, 'bridge: not implemented yet');
};
export const bridge: Plugin = { name: 'bridge', add: notYet, del: notYet, check: notYet, gc: notYet, status: notYet };
