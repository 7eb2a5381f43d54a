/**
 * IPVS sync messages on the wire (ip_vs_sync.c: struct ip_vs_sync_mesg, ip_vs_sync_v4; the
 * uapi connection flags of include/uapi/linux/ip_vs.h). tapvs sends protocol version 1 and reads
 * versions 1 and 0, IPv4 entries only. Big-endian throughout.
 *
 *   v1 header (8):  reserved=0, syncid, size (whole message), nr_conns, version=1, spare (2) = 0
 *   v1 entry (36):  type=0 (IPv4), protocol, ver_size (version 0 << 12 | length), flags (32),
 *                   state, cport, vport, dport, fwmark, timeout (s), caddr, vaddr, daddr,
 *                   then options (type, len, data), then padding to 4 before the next entry
 *   v0 header (4):  nr_conns, syncid, size;  v0 entry (24): reserved, protocol, cport, vport,
 *                   dport, caddr, vaddr, daddr, flags (16), state [+ 24 bytes of seq data]
 *
 * Reading follows ip_vs_process_message(): a length that differs from `size` drops the message;
 * a backup with a syncid other than 0 keeps only its own; v1 when version is 1 and reserved and
 * spare are 0, else v0; a malformed entry drops the rest of the message ("hard"), an entry the
 * backup cannot take (unknown protocol, state out of range, IPv6, unknown mandatory option) is
 * skipped alone ("soft"). Nothing here throws on message content.
 */

export const SYNC_V1_HEADER = 8;
export const SYNC_V1_ENTRY = 36;
const SYNC_V1_ENTRY_V6 = 72;
/** The most a v1 message can hold: 255 entries (nr_conns is one byte) of 36 bytes. */
export const SYNC_V1_MAX_MESSAGE = SYNC_V1_HEADER + 255 * SYNC_V1_ENTRY;
const SYNC_V0_HEADER = 4;
const SYNC_V0_ENTRY = 24;
const SYNC_V0_SEQ = 24;

/** Connection flags on the wire (uapi ip_vs.h). */
export const WireFlag = {
  FWD_MASK: 0x0007,
  MASQ: 0x0000,
  SYNC: 0x0020,
  HASHED: 0x0040,
  NOOUTPUT: 0x0080,
  INACTIVE: 0x0100,
  OUT_SEQ: 0x0200,
  IN_SEQ: 0x0400,
  NO_CPORT: 0x0800,
  TEMPLATE: 0x1000,
  ONE_PACKET: 0x2000,
} as const;
/** What a backup keeps of a new entry's flags (ip_vs_sync.c IP_VS_CONN_F_BACKUP_MASK). */
export const BACKUP_MASK = 0x1f87;
/** What an update may change on an existing entry (IP_VS_CONN_F_BACKUP_UPD_MASK). */
export const BACKUP_UPD_MASK = 0x0700;

const OPT_SEQ_DATA = 1;
const OPT_PE_DATA = 2;
const OPT_PE_NAME = 3;
const OPT_F_PARAM = 0x40;
const SEQ_DATA_LEN = 24;

/** One entry as read (a reused object: copy what you keep before the next entry). */
export class SyncEntry {
  protocol = 0;
  flags = 0;
  state = 0;
  cport = 0;
  vport = 0;
  dport = 0;
  fwmark = 0;
  /** Seconds; 0 in v0 messages (the backup uses its own table). */
  timeoutS = 0;
  caddr = 0;
  vaddr = 0;
  daddr = 0;
  /** The message was version 0. */
  v0 = false;
}

/** Why a message (or the rest of it) was not read; counter names. */
export const MessageDrop = {
  Short: 'short',
  SizeMismatch: 'size_mismatch',
  SyncidMismatch: 'syncid_mismatch',
  BadEntry: 'bad_entry',
} as const;
export type MessageDrop = (typeof MessageDrop)[keyof typeof MessageDrop];

/** Called per entry the backup may take; `skip` counts entries it must ignore. */
export interface EntrySink {
  entry(e: SyncEntry): void;
  skip(reason: string): void;
}

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_SCTP = 132;
/** Highest state number + 1 per protocol (TCP 11, UDP 1, SCTP 15). */
function stateCount(proto: number): number {
  return proto === IPPROTO_TCP ? 11 : proto === IPPROTO_UDP ? 1 : proto === IPPROTO_SCTP ? 15 : 0;
}

/**
 * Reads the message b[off, off + len) for a backup with `syncid` (0 = any) and hands each entry
 * to `sink`. Returns null when the whole message was read, else why it (or its rest) was dropped.
 */
export function readMessage(
  b: Uint8Array,
  off: number,
  len: number,
  syncid: number,
  sink: EntrySink,
  e: SyncEntry,
): MessageDrop | null {
  if (len < SYNC_V0_HEADER) return MessageDrop.Short;
  const size = u16(b, off + 2);
  if (size !== len) return MessageDrop.SizeMismatch;
  if (syncid !== 0 && b[off + 1] !== syncid) return MessageDrop.SyncidMismatch;
  const v1 = len >= SYNC_V1_HEADER && b[off] === 0 && b[off + 5] === 1 && u16(b, off + 6) === 0;
  return v1 ? readV1(b, off, len, sink, e) : readV0(b, off, len, sink, e);
}

function readV1(b: Uint8Array, off: number, len: number, sink: EntrySink, e: SyncEntry): MessageDrop | null {
  const n = b[off + 4];
  const end = off + len;
  let p = off + SYNC_V1_HEADER;
  for (let i = 0; i < n; i++) {
    if (p + SYNC_V1_ENTRY > end) return MessageDrop.BadEntry;
    const verSize = u16(b, p + 2);
    const size = verSize & 0x0fff;
    if (p + size > end || verSize >>> 12 !== 0) return MessageDrop.BadEntry;
    const type = b[p];
    if (type & ~1) return MessageDrop.BadEntry;
    let soft: string | null = type === 1 ? 'ipv6' : null;
    // Options follow the fixed part (IPv6's is 72 bytes); a `size` shorter than the fixed part
    // leaves no options, as in the kernel. A malformed option drops the rest of the message, an
    // unknown mandatory one skips this entry.
    let seen = 0;
    for (let q = p + (type === 1 ? SYNC_V1_ENTRY_V6 : SYNC_V1_ENTRY); q < p + size; ) {
      if (q + 2 > p + size) return MessageDrop.BadEntry;
      const ot = b[q],
        ol = b[q + 1];
      if (ol === 0 || q + 2 + ol > p + size) return MessageDrop.BadEntry;
      const kind = ot & ~OPT_F_PARAM;
      if (kind === OPT_SEQ_DATA || kind === OPT_PE_DATA || kind === OPT_PE_NAME) {
        if (seen & (1 << kind)) return MessageDrop.BadEntry;
        if (kind === OPT_SEQ_DATA && ol !== SEQ_DATA_LEN) return MessageDrop.BadEntry;
        seen |= 1 << kind;
        if (kind !== OPT_SEQ_DATA) soft ??= 'persistence engine data';
      } else if ((ot & OPT_F_PARAM) === 0) {
        soft ??= 'unknown option';
      }
      q += 2 + ol;
    }
    if (soft === null) {
      e.v0 = false;
      e.protocol = b[p + 1];
      e.flags = u32(b, p + 4);
      e.state = u16(b, p + 8);
      e.cport = u16(b, p + 10);
      e.vport = u16(b, p + 12);
      e.dport = u16(b, p + 14);
      e.fwmark = u32(b, p + 16);
      e.timeoutS = u32(b, p + 20);
      e.caddr = i32(b, p + 24);
      e.vaddr = i32(b, p + 28);
      e.daddr = i32(b, p + 32);
      deliver(e, sink);
    } else {
      sink.skip(soft);
    }
    p += (size + 3) & ~3;
  }
  return null;
}

function readV0(b: Uint8Array, off: number, len: number, sink: EntrySink, e: SyncEntry): MessageDrop | null {
  const n = b[off];
  const end = off + len;
  let p = off + SYNC_V0_HEADER;
  for (let i = 0; i < n; i++) {
    if (p + SYNC_V0_ENTRY > end) return MessageDrop.BadEntry;
    const flags = u16(b, p + 20);
    const size = SYNC_V0_ENTRY + (flags & (WireFlag.IN_SEQ | WireFlag.OUT_SEQ) ? SYNC_V0_SEQ : 0);
    if (p + size > end) return MessageDrop.BadEntry;
    e.v0 = true;
    e.protocol = b[p + 1];
    e.cport = u16(b, p + 2);
    e.vport = u16(b, p + 4);
    e.dport = u16(b, p + 6);
    e.caddr = i32(b, p + 8);
    e.vaddr = i32(b, p + 12);
    e.daddr = i32(b, p + 16);
    e.flags = flags;
    e.state = u16(b, p + 22);
    e.fwmark = 0;
    e.timeoutS = 0;
    deliver(e, sink);
    p += size;
  }
  return null;
}

/** The per-entry checks that skip only the entry (ip_vs_proc_sync_conn()). */
function deliver(e: SyncEntry, sink: EntrySink): void {
  const template = (e.flags & WireFlag.TEMPLATE) !== 0;
  if (!template && stateCount(e.protocol) === 0) sink.skip('unsupported protocol');
  else if (!template && e.state >= stateCount(e.protocol)) sink.skip('state out of range');
  else sink.entry(e);
}

/**
 * Builds v1 messages in place: `begin`, then `add` entries until it returns false (full), then
 * `finish` for the length. Nothing allocated per entry.
 */
export class MessageWriter {
  private p = SYNC_V1_HEADER;
  private n = 0;

  constructor(
    readonly buf: Uint8Array,
    /** sync_maxlen: the message's byte limit. */
    private readonly maxlen: number,
  ) {}

  get count(): number {
    return this.n;
  }

  begin(syncid: number): void {
    const b = this.buf;
    b[0] = 0;
    b[1] = syncid;
    b[2] = 0;
    b[3] = 0;
    b[4] = 0;
    b[5] = 1;
    b[6] = 0;
    b[7] = 0;
    this.p = SYNC_V1_HEADER;
    this.n = 0;
  }

  /** Appends one IPv4 entry; false when it does not fit (or the message holds 255 entries). */
  add(
    protocol: number,
    flags: number,
    state: number,
    cport: number,
    vport: number,
    dport: number,
    timeoutS: number,
    caddr: number,
    vaddr: number,
    daddr: number,
  ): boolean {
    const start = (this.p + 3) & ~3;
    if (this.n === 255 || start + SYNC_V1_ENTRY > this.maxlen) return false;
    const b = this.buf;
    for (let i = this.p; i < start; i++) b[i] = 0;
    b[start] = 0;
    b[start + 1] = protocol;
    put16(b, start + 2, SYNC_V1_ENTRY);
    put32(b, start + 4, flags);
    put16(b, start + 8, state);
    put16(b, start + 10, cport);
    put16(b, start + 12, vport);
    put16(b, start + 14, dport);
    put32(b, start + 16, 0);
    put32(b, start + 20, timeoutS);
    put32(b, start + 24, caddr);
    put32(b, start + 28, vaddr);
    put32(b, start + 32, daddr);
    this.p = start + SYNC_V1_ENTRY;
    this.n++;
    return true;
  }

  /** Writes the count and size; returns the message's length. */
  finish(): number {
    this.buf[4] = this.n;
    put16(this.buf, 2, this.p);
    return this.p;
  }
}

function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}
function i32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}
function u32(b: Uint8Array, o: number): number {
  return i32(b, o) >>> 0;
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
