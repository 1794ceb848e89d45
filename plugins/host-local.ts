// Entry of the host-local IPAM executable.
import { hostLocal } from '../ipam/host-local.ts';
import { main } from '../lib/cni/stdio.ts';

void main(hostLocal);
