// Entry of the ptp executable; our host-local is linked in for in-process delegation, and
// loaded only when delegated to.
import { registerInProcessPlugin } from '../lib/cni/delegate.ts';
import { main } from '../lib/cni/stdio.ts';
import { ptp } from './ptp/plugin.ts';

registerInProcessPlugin('host-local', () => import('../ipam/host-local.ts').then((m) => m.hostLocal));
void main(ptp);
