// Placeholder until the ptp implementation lands.
import type { Plugin } from '../../lib/dispatch.ts';
import { CniError, ErrorCode } from '../../lib/errors.ts';

const notYet = async (): Promise<never> => {
  throw new CniError(ErrorCode.Internal, 'ptp: not implemented yet');
};
export const ptp: Plugin = { name: 'ptp', add: notYet, del: notYet, check: notYet, gc: notYet, status: notYet };
