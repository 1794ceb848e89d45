// Entry of the loopback executable.
import { main } from '../lib/cni/stdio.ts';
import { loopback } from './loopback/plugin.ts';

void main(loopback);
