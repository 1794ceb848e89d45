// Entry of the ptp executable; our host-local is linked in for in-process delegation.
import { hostLocal } from '../ipam/host-local.ts';
import { registerInProcessPlugin } from '../lib/delegate.ts';
import { main } from '../lib/stdio.ts';
import { ptp } from './ptp/plugin.ts';

registerInProcessPlugin(hostLocal);
void main(ptp);
