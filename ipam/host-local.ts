// Placeholder until the host-local implementation lands.
import type { Plugin } from '../lib/dispatch.ts';
import { CniError, ErrorCode } from '../lib/errors.ts';

const notYet = async (): Promise<never> => {
  throw new CniError(ErrorCode.Internal, 'host-local: not implemented yet');
};
export const hostLocal: Plugin = { name: 'host-local', add: notYet, del: notYet, check: notYet, gc: notYet, status: notYet };
