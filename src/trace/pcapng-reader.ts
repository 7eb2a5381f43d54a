/**
 * Reads a saved trace for `tapvsd trace -r FILE`: pcapng (what tapvsd writes, and what tcpdump,
 * dumpcap and Wireshark write) or classic pcap, calling back once per packet with its interface,
 * time, bytes, comment (opt_comment: tapvs's decision) and direction (epb_flags).
 *
 * Contract: the file is read whole (traces are bounded by their writers' limits; tapvsd's by
 * 100 MB by default); both byte orders; several sections (interface numbers restart per
 * section). A truncated or malformed block ends the reading with a TapvsError('BAD_ARGUMENT')
 * after the packets before it were delivered, as tcpdump prints what it could read.
 *
 * Not here: Simple and obsolete Packet Blocks (skipped), compressed files, name resolution.
 * Layouts: draft-ietf-opsawg-pcapng §4 (blocks), §4.3.1 (epb_flags); pcap: draft-ietf-opsawg-pcap.
 */
import { readFileSync } from 'node:fs';
import { TapvsError } from '../errors.js';
import { EPB_INBOUND, EPB_OUTBOUND, PCAPNG_EPB, PCAPNG_IDB, PCAPNG_SHB } from './pcapng.js';

export interface SavedInterface {
  /** if_name ("ext rx" for tapvsd's files), or "if<N>" when the file gives none. */
  name: string;
  /** LINKTYPE_*; 1 is Ethernet. */
  linkType: number;
  /** Timestamp units per millisecond. */
  unitsPerMs: number;
}

export interface SavedPacket {
  iface: SavedInterface;
  /** Milliseconds since the epoch, fractions to the file's resolution. */
  ms: number;
  data: Uint8Array;
  /** Length on the wire (data holds the captured part). */
  wireLen: number;
  comment: string | null;
  /** 'rx' (inbound), 'tx' (outbound) or '' (not recorded). */
  dir: '' | 'rx' | 'tx';
}

/** Calls `each` per packet in file order; `each` returns false to stop. */
export function readSavedTrace(path: string, each: (p: SavedPacket) => boolean): void {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new TapvsError('BAD_ARGUMENT', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (buf.length < 4) throw new TapvsError('BAD_ARGUMENT', `${path}: not a pcap or pcapng file (too short)`);
  const magic = buf.readUInt32LE(0);
  if (magic === PCAPNG_SHB) readPcapng(path, buf, each);
  else readPcap(path, buf, each);
}

function bad(path: string, why: string): never {
  throw new TapvsError('BAD_ARGUMENT', `${path}: ${why}`);
}

function readPcapng(path: string, buf: Buffer, each: (p: SavedPacket) => boolean): void {
  let le = true;
  let ifaces: SavedInterface[] = [];
  const u16 = (o: number): number => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  let pos = 0;
  while (pos + 12 <= buf.length) {
    const type = buf.readUInt32LE(pos); // the SHB's type reads the same both ways
    if (type === PCAPNG_SHB) {
      const bom = buf.readUInt32LE(pos + 8);
      if (bom === 0x1a2b3c4d) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else bad(path, `bad byte-order magic at ${pos}`);
      ifaces = [];
    }
    const len = u32(pos + 4);
    if (len < 12 || len % 4 !== 0 || pos + len > buf.length) bad(path, `truncated or bad block at offset ${pos}`);
    const end = pos + len - 4;
    const t = type === PCAPNG_SHB ? PCAPNG_SHB : u32(pos);
    if (t === PCAPNG_IDB) {
      const iface: SavedInterface = { name: `if${ifaces.length}`, linkType: u16(pos + 8), unitsPerMs: 1000 };
      forOptions(pos + 16, end, u16, (code, o, n) => {
        if (code === 2) iface.name = buf.toString('utf8', o, o + n);
        else if (code === 9 && n >= 1) {
          const r = buf[o];
          const perSec = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
          iface.unitsPerMs = perSec / 1000;
        }
      });
      ifaces.push(iface);
    } else if (t === PCAPNG_EPB) {
      const iface = ifaces[u32(pos + 8)];
      if (iface === undefined) bad(path, `packet on an undeclared interface at offset ${pos}`);
      const units = u32(pos + 12) * 0x1_0000_0000 + u32(pos + 16);
      const cap = u32(pos + 20);
      const data = pos + 28;
      if (data + cap > end) bad(path, `packet longer than its block at offset ${pos}`);
      let comment: string | null = null;
      let dir: SavedPacket['dir'] = '';
      forOptions(data + ((cap + 3) & ~3), end, u16, (code, o, n) => {
        if (code === 1) comment = comment === null ? buf.toString('utf8', o, o + n) : comment;
        else if (code === 2 && n === 4) {
          const d = u32(o) & 3;
          dir = d === EPB_INBOUND ? 'rx' : d === EPB_OUTBOUND ? 'tx' : '';
        }
      });
      const p: SavedPacket = {
        iface,
        ms: units / iface.unitsPerMs,
        data: buf.subarray(data, data + cap),
        wireLen: u32(pos + 24),
        comment,
        dir,
      };
      if (!each(p)) return;
    }
    pos += len;
  }
  if (pos !== buf.length) bad(path, `truncated block at offset ${pos}`);
}

/** Walks the options in buf[o, end): code, length, value padded to 4; stops at opt_endofopt. */
function forOptions(
  o: number,
  end: number,
  u16: (o: number) => number,
  fn: (code: number, at: number, len: number) => void,
): void {
  while (o + 4 <= end) {
    const code = u16(o),
      n = u16(o + 2);
    if (code === 0 || o + 4 + n > end) return;
    fn(code, o + 4, n);
    o += 4 + ((n + 3) & ~3);
  }
}

function readPcap(path: string, buf: Buffer, each: (p: SavedPacket) => boolean): void {
  if (buf.length < 24) bad(path, 'not a pcap or pcapng file');
  const m = buf.readUInt32LE(0);
  let le: boolean, nano: boolean;
  if (m === 0xa1b2c3d4 || m === 0xa1b23c4d) {
    le = true;
    nano = m === 0xa1b23c4d;
  } else {
    const mb = buf.readUInt32BE(0);
    if (mb !== 0xa1b2c3d4 && mb !== 0xa1b23c4d) bad(path, 'not a pcap or pcapng file');
    le = false;
    nano = mb === 0xa1b23c4d;
  }
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const iface: SavedInterface = { name: 'if0', linkType: u32(20) & 0x0fffffff, unitsPerMs: nano ? 1e6 : 1e3 };
  let pos = 24;
  while (pos + 16 <= buf.length) {
    const cap = u32(pos + 8);
    if (pos + 16 + cap > buf.length) bad(path, `truncated packet at offset ${pos}`);
    const ms = u32(pos) * 1000 + u32(pos + 4) / iface.unitsPerMs;
    const p: SavedPacket = {
      iface,
      ms,
      data: buf.subarray(pos + 16, pos + 16 + cap),
      wireLen: u32(pos + 12),
      comment: null,
      dir: '',
    };
    if (!each(p)) return;
    pos += 16 + cap;
  }
}
