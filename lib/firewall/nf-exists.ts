// Whether an nf_tables table or chain exists, asked over the standalone build's netfilter socket
// (one request, microseconds) so a DEL can skip reading rule sets that cannot hold anything of
// its attachment. iptables-nft keeps its tables as nf_tables tables (`ip nat`, `ip6 nat`), so this
// sees iptables chains too when iptables is the nft variant. undefined = cannot tell here (the
// Node build, a kernel without nf_tables): the caller reads the rule set as usual.
import { NetlinkError, netfilterQuery, available as netlinkAvailable } from '../kernel/netlink.ts';
import { type Attr, cstring, message, NLM_F } from '../kernel/netlink-codec.ts';

const NFTABLES = 10 << 8; // NFNL_SUBSYS_NFTABLES, in the message type's high byte
const NFT_MSG_GETTABLE = 1;
const NFT_MSG_GETCHAIN = 4;
const NFTA_TABLE_NAME = 1;
const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_NAME = 3;
const NFPROTO = { ip: 2, ip6: 10 } as const;
const ENOENT = 2;

export type NfFamily = keyof typeof NFPROTO;

/** A get request for one object (the kernel answers with it, or ENOENT). */
export function getRequest(seq: number, family: NfFamily, table: string, chain?: string): Uint8Array {
  const attrs: Attr[] =
    chain === undefined
      ? [[NFTA_TABLE_NAME, cstring(table)]]
      : [
          [NFTA_CHAIN_TABLE, cstring(table)],
          [NFTA_CHAIN_NAME, cstring(chain)],
        ];
  const type = NFTABLES | (chain === undefined ? NFT_MSG_GETTABLE : NFT_MSG_GETCHAIN);
  return message(type, NLM_F.ACK, seq, Uint8Array.of(NFPROTO[family], 0, 0, 0), attrs);
}

function exists(family: NfFamily, table: string, chain?: string): boolean | undefined {
  if (!netlinkAvailable()) return undefined;
  try {
    netfilterQuery((seq) => getRequest(seq, family, table, chain));
    return true;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ENOENT) return false;
    return undefined;
  }
}

export const nfTableExists = (family: NfFamily, table: string): boolean | undefined => exists(family, table);
export const nfChainExists = (family: NfFamily, table: string, chain: string): boolean | undefined => exists(family, table, chain);
