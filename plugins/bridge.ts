// Entry of the bridge executable; our host-local is linked in for in-process delegation, and
// loaded only when delegated to.
import { registerInProcessPlugin } from '../lib/cni/delegate.ts';
import { main } from '../lib/cni/stdio.ts';
import { bridge } from './bridge/plugin.ts';

registerInProcessPlugin('host-local', () => import('../ipam/host-local.ts').then((m) => m.hostLocal));
void main(bridge);
