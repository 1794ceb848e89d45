// Entry of the portmap executable.
import { main } from '../lib/cni/stdio.ts';
import { portmap } from './portmap/plugin.ts';

void main(portmap);
