/**
 * A tiny reader of classic pcap files (the libpcap format tcpdump -w writes), for test fixtures.
 *
 * Handles both byte orders and both timestamp magics: 0xa1b2c3d4 (microseconds) and 0xa1b23c4d
 * (nanoseconds; tsUsec is then the nanosecond field divided by 1000, rounded down). Only linktype 1
 * (Ethernet) is accepted. Not pcapng, not for the data path: it throws on anything malformed, and a
 * record cut short by the end of the file is an error rather than a silently shorter frame.
 * Format: draft-ietf-opsawg-pcap §4 (file header) and §5 (packet records).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PcapRecord {
  tsSec: number;
  tsUsec: number;
  /** The captured bytes (caplen of them): a copy, safe to rewrite. */
  data: Buffer;
}

export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
export const LINKTYPE_ETHERNET = 1;
const FILE_HLEN = 24;
const REC_HLEN = 16;

/** Parses a whole pcap file held in memory. */
export function parsePcap(file: Uint8Array): PcapRecord[] {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (b.length < FILE_HLEN) throw new Error(`pcap: ${b.length} bytes is shorter than the file header`);
  let le: boolean;
  let nsec: boolean;
  const magicLe = b.readUInt32LE(0);
  const magicBe = b.readUInt32BE(0);
  if (magicLe === PCAP_MAGIC_USEC || magicLe === PCAP_MAGIC_NSEC) {
    le = true;
    nsec = magicLe === PCAP_MAGIC_NSEC;
  } else if (magicBe === PCAP_MAGIC_USEC || magicBe === PCAP_MAGIC_NSEC) {
    le = false;
    nsec = magicBe === PCAP_MAGIC_NSEC;
  } else {
    throw new Error(`pcap: bad magic 0x${magicBe.toString(16)} (pcapng is not supported)`);
  }
  const u32 = (off: number): number => (le ? b.readUInt32LE(off) : b.readUInt32BE(off));
  const u16 = (off: number): number => (le ? b.readUInt16LE(off) : b.readUInt16BE(off));
  const major = u16(4);
  if (major !== 2) throw new Error(`pcap: unsupported version ${major}.${u16(6)}`);
  // The link type is the low 16 bits; the upper bits may carry an FCS length (§4).
  const linkType = u32(20) & 0xffff;
  if (linkType !== LINKTYPE_ETHERNET) throw new Error(`pcap: linktype ${linkType}, only 1 (Ethernet) is supported`);

  const out: PcapRecord[] = [];
  let off = FILE_HLEN;
  while (off < b.length) {
    if (b.length - off < REC_HLEN) throw new Error(`pcap: record ${out.length + 1} header cut at offset ${off}`);
    const tsSec = u32(off);
    const frac = u32(off + 4);
    const capLen = u32(off + 8);
    const start = off + REC_HLEN;
    if (start + capLen > b.length) throw new Error(`pcap: record ${out.length + 1} data cut at offset ${start}`);
    out.push({
      tsSec,
      tsUsec: nsec ? Math.floor(frac / 1000) : frac,
      data: Buffer.from(b.subarray(start, start + capLen)),
    });
    off = start + capLen;
  }
  return out;
}

/** Reads and parses a pcap file. */
export function readPcap(path: string): PcapRecord[] {
  return parsePcap(readFileSync(path));
}

/**
 * Absolute path of a file in test/fixtures/. Fixtures are not compiled into dist/, so this walks up
 * from this module (src or dist) to the directory holding package.json.
 */
export function fixturePath(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'test', 'fixtures', name);
    dir = dirname(dir);
  }
  throw new Error(`fixturePath: no package.json above ${fileURLToPath(import.meta.url)}`);
}
