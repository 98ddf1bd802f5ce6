/**
 * What the live capture hands over, read with the same link-layer decoder as replay (wire/link's
 * readLink, the first stage of readPacket): Ethernet with any stack of 802.1Q/802.1ad tags,
 * Linux cooked v1 and v2, raw IP. Only the link header is read here: the engine decodes IP and
 * TCP itself, so reading them here too would cost every packet a second decode.
 */
import { OK } from '../wire/status.js';
import type { PacketView } from '../wire/view.js';
import {
  DLT_RAW_12, ETHERTYPE_IPV4, LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL,
  LINKTYPE_RAW, readLink,
} from '../wire/link.js';

/** Link types the live path reads (readLink decodes them all; IPv6-only LINKTYPE_IPV6 carries nothing for us). */
const LIVE_LINK_TYPES: ReadonlySet<number> = new Set([
  LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, DLT_RAW_12, LINKTYPE_IPV4, LINKTYPE_NULL,
]);

/**
 * The LINKTYPE number of a link type as cap's open() names it: a name for the few it knows
 * ("ETHERNET", "LINKTYPE_LINUX_SLL", "RAW" = Linux DLT_RAW 12, "NULL"), otherwise the text
 * "Unknown linktype N" (Linux cooked v2 is 276). -1 when it says neither.
 */
export function capLinkType(name: string): number {
  switch (name) {
    case 'ETHERNET':
      return LINKTYPE_ETHERNET;
    case 'LINKTYPE_LINUX_SLL':
    case 'LINUX_SLL':
      return LINKTYPE_LINUX_SLL;
    case 'RAW':
      return DLT_RAW_12;
    case 'NULL':
      return LINKTYPE_NULL;
  }
  const m = /^Unknown linktype (\d+)$/.exec(name);
  return m !== null ? Number(m[1]) : -1;
}

/** Whether the live path reads frames of this LINKTYPE. */
export function liveLinkSupported(linkType: number): boolean {
  return LIVE_LINK_TYPES.has(linkType);
}

/**
 * Offset of the IPv4 header in a captured frame of `len` bytes, or -1 when the frame is not
 * IPv4 (ARP, IPv6, LLC) or its link header is cut short. `view` is scratch, not reset per frame:
 * readLink sets etherType on success and counts VLAN tags from zero (its link fields are left
 * set: vlanCount says whether the frame was tagged).
 */
export function ipv4Offset(buf: Uint8Array, len: number, linkType: number, view: PacketView): number {
  if (readLink(buf, 0, len, linkType, view) !== OK || view.etherType !== ETHERTYPE_IPV4) return -1;
  return view.l3Off < len ? view.l3Off : -1;
}
