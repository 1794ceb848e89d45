// Entry of the bridge executable; our host-local is linked in for in-process delegation.
import { hostLocal } from '../ipam/host-local.ts';
import { registerInProcessPlugin } from '../lib/delegate.ts';
import { main } from '../lib/stdio.ts';
import { bridge } from './bridge/plugin.ts';

registerInProcessPlugin(hostLocal);
void main(bridge);
