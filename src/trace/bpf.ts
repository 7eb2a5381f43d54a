/**
 * A classic BPF interpreter: runs the program libpcap compiled from a tcpdump expression
 * (bpf-compile.ts) over one frame, per traced packet, so tapvs's traces select frames exactly as
 * `tcpdump EXPR` would on the same link.
 *
 * Semantics are those of libpcap's bpf_filter() (pcap/bpf_filter.c) and the kernel's classic
 * BPF (net/core/filter.c): 32-bit unsigned accumulator A and index X, 16 words of scratch
 * memory, loads big-endian; a load past the captured bytes, or a division by zero, ends the run
 * with 0 (reject) as both do. The return value is the number of bytes to keep (0: reject).
 *
 * Contract: the program is checked once, when built (validate(): known opcodes, jumps forward and
 * inside the program, scratch indices < 16, ends in a return), so run() is bounded by the
 * program's length (jumps only go forward) and never throws. run() allocates nothing: the program
 * lives in typed arrays and the scratch memory is one preallocated array per program.
 *
 * Not here: the kernel's ancillary loads (SKF_AD_*, offsets from 0xfffff000): they read past any
 * frame and so reject, as in libpcap's userland filter. libpcap generates them only for live
 * Linux captures, never for pcap_open_dead(DLT_EN10MB), which is how tapvs compiles.
 */
import { TapvsError } from '../errors.js';

// Instruction classes, sizes, modes, operations (pcap/bpf.h).
export const BPF_LD = 0x00,
  BPF_LDX = 0x01,
  BPF_ST = 0x02,
  BPF_STX = 0x03,
  BPF_ALU = 0x04,
  BPF_JMP = 0x05,
  BPF_RET = 0x06,
  BPF_MISC = 0x07;
export const BPF_W = 0x00,
  BPF_H = 0x08,
  BPF_B = 0x10;
export const BPF_IMM = 0x00,
  BPF_ABS = 0x20,
  BPF_IND = 0x40,
  BPF_MEM = 0x60,
  BPF_LEN = 0x80,
  BPF_MSH = 0xa0;
export const BPF_ADD = 0x00,
  BPF_SUB = 0x10,
  BPF_MUL = 0x20,
  BPF_DIV = 0x30,
  BPF_OR = 0x40,
  BPF_AND = 0x50,
  BPF_LSH = 0x60,
  BPF_RSH = 0x70,
  BPF_NEG = 0x80,
  BPF_MOD = 0x90,
  BPF_XOR = 0xa0;
export const BPF_JA = 0x00,
  BPF_JEQ = 0x10,
  BPF_JGT = 0x20,
  BPF_JGE = 0x30,
  BPF_JSET = 0x40;
export const BPF_K = 0x00,
  BPF_X = 0x08,
  BPF_A = 0x10;
export const BPF_TAX = 0x00,
  BPF_TXA = 0x80;
const BPF_MEMWORDS = 16;
/** The kernel's BPF_MAXINSNS. */
export const BPF_MAXINSNS = 4096;

/** Every opcode the interpreter knows (libpcap's bpf_validate list). */
const VALID = new Set<number>([
  BPF_LD | BPF_W | BPF_ABS,
  BPF_LD | BPF_H | BPF_ABS,
  BPF_LD | BPF_B | BPF_ABS,
  BPF_LD | BPF_W | BPF_IND,
  BPF_LD | BPF_H | BPF_IND,
  BPF_LD | BPF_B | BPF_IND,
  BPF_LD | BPF_W | BPF_LEN,
  BPF_LD | BPF_IMM,
  BPF_LD | BPF_MEM,
  BPF_LDX | BPF_W | BPF_IMM,
  BPF_LDX | BPF_W | BPF_MEM,
  BPF_LDX | BPF_W | BPF_LEN,
  BPF_LDX | BPF_B | BPF_MSH,
  BPF_ST,
  BPF_STX,
  BPF_RET | BPF_K,
  BPF_RET | BPF_A,
  BPF_RET | BPF_X,
  ...[BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_OR, BPF_AND, BPF_XOR, BPF_LSH, BPF_RSH].flatMap((op) => [
    BPF_ALU | op | BPF_K,
    BPF_ALU | op | BPF_X,
  ]),
  BPF_ALU | BPF_NEG,
  BPF_JMP | BPF_JA,
  ...[BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET].flatMap((op) => [BPF_JMP | op | BPF_K, BPF_JMP | op | BPF_X]),
  BPF_MISC | BPF_TAX,
  BPF_MISC | BPF_TXA,
]);

/**
 * The opcodes in the order of run()'s switch: the constructor maps each instruction to its index
 * here, so run() switches on small dense integers (a jump table) instead of sparse opcodes.
 */
const DENSE: readonly number[] = [
  BPF_RET | BPF_K,
  BPF_RET | BPF_A,
  BPF_RET | BPF_X,
  BPF_LD | BPF_W | BPF_ABS,
  BPF_LD | BPF_H | BPF_ABS,
  BPF_LD | BPF_B | BPF_ABS,
  BPF_LD | BPF_W | BPF_LEN,
  BPF_LDX | BPF_W | BPF_LEN,
  BPF_LD | BPF_W | BPF_IND,
  BPF_LD | BPF_H | BPF_IND,
  BPF_LD | BPF_B | BPF_IND,
  BPF_LDX | BPF_B | BPF_MSH,
  BPF_LD | BPF_IMM,
  BPF_LDX | BPF_W | BPF_IMM,
  BPF_LD | BPF_MEM,
  BPF_LDX | BPF_W | BPF_MEM,
  BPF_ST,
  BPF_STX,
  BPF_JMP | BPF_JA,
  BPF_JMP | BPF_JGT | BPF_K,
  BPF_JMP | BPF_JGE | BPF_K,
  BPF_JMP | BPF_JEQ | BPF_K,
  BPF_JMP | BPF_JSET | BPF_K,
  BPF_JMP | BPF_JGT | BPF_X,
  BPF_JMP | BPF_JGE | BPF_X,
  BPF_JMP | BPF_JEQ | BPF_X,
  BPF_JMP | BPF_JSET | BPF_X,
  BPF_ALU | BPF_ADD | BPF_X,
  BPF_ALU | BPF_SUB | BPF_X,
  BPF_ALU | BPF_MUL | BPF_X,
  BPF_ALU | BPF_DIV | BPF_X,
  BPF_ALU | BPF_MOD | BPF_X,
  BPF_ALU | BPF_AND | BPF_X,
  BPF_ALU | BPF_OR | BPF_X,
  BPF_ALU | BPF_XOR | BPF_X,
  BPF_ALU | BPF_LSH | BPF_X,
  BPF_ALU | BPF_RSH | BPF_X,
  BPF_ALU | BPF_ADD | BPF_K,
  BPF_ALU | BPF_SUB | BPF_K,
  BPF_ALU | BPF_MUL | BPF_K,
  BPF_ALU | BPF_DIV | BPF_K,
  BPF_ALU | BPF_MOD | BPF_K,
  BPF_ALU | BPF_AND | BPF_K,
  BPF_ALU | BPF_OR | BPF_K,
  BPF_ALU | BPF_XOR | BPF_K,
  BPF_ALU | BPF_LSH | BPF_K,
  BPF_ALU | BPF_RSH | BPF_K,
  BPF_ALU | BPF_NEG,
  BPF_MISC | BPF_TAX,
  BPF_MISC | BPF_TXA,
];

export class BpfProgram {
  readonly length: number;
  private readonly code: Uint16Array;
  /** Each instruction's index in DENSE. */
  private readonly op: Uint8Array;
  private readonly jt: Uint8Array;
  private readonly jf: Uint8Array;
  private readonly k: Uint32Array;
  private readonly mem = new Uint32Array(BPF_MEMWORDS);

  /**
   * From struct bpf_insn words (code, jt, jf, k) × n, as bpf-compile.ts returns them.
   * Throws TapvsError('BAD_ARGUMENT') on a program that fails validate().
   */
  constructor(insns: Uint32Array | readonly number[]) {
    const n = insns.length >> 2;
    if (n === 0 || n > BPF_MAXINSNS || insns.length % 4 !== 0) {
      throw new TapvsError('BAD_ARGUMENT', `BPF: a program has 1 to ${BPF_MAXINSNS} instructions, not ${n}`);
    }
    this.length = n;
    this.code = new Uint16Array(n);
    this.op = new Uint8Array(n);
    this.jt = new Uint8Array(n);
    this.jf = new Uint8Array(n);
    this.k = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      this.code[i] = insns[i * 4];
      this.jt[i] = insns[i * 4 + 1];
      this.jf[i] = insns[i * 4 + 2];
      this.k[i] = insns[i * 4 + 3];
    }
    this.validate();
    for (let i = 0; i < n; i++) this.op[i] = DENSE.indexOf(this.code[i]);
  }

  /** libpcap's bpf_validate(): every path ends in a return; throws naming the instruction. */
  private validate(): void {
    const n = this.length;
    for (let pc = 0; pc < n; pc++) {
      const c = this.code[pc],
        k = this.k[pc];
      const bad = (why: string): never => {
        throw new TapvsError('BAD_ARGUMENT', `BPF: instruction ${pc} (code 0x${c.toString(16)}): ${why}`);
      };
      if (!VALID.has(c)) bad('unknown opcode');
      const cls = c & 0x07;
      const usesMem =
        cls === BPF_ST || cls === BPF_STX || ((cls === BPF_LD || cls === BPF_LDX) && (c & 0xe0) === BPF_MEM);
      if (usesMem && k >= BPF_MEMWORDS) bad('scratch memory index out of range');
      if (cls === BPF_ALU && (c & 0xf0) !== BPF_NEG && (c & 0x08) === BPF_K) {
        const op = c & 0xf0;
        if ((op === BPF_DIV || op === BPF_MOD) && k === 0) bad('division by zero');
      }
      if (cls === BPF_JMP) {
        if ((c & 0xf0) === BPF_JA) {
          if (pc + 1 + k >= n) bad('jump out of the program');
        } else if (pc + 1 + this.jt[pc] >= n || pc + 1 + this.jf[pc] >= n) bad('jump out of the program');
      }
    }
    if ((this.code[n - 1] & 0x07) !== BPF_RET)
      throw new TapvsError('BAD_ARGUMENT', 'BPF: the program must end in a return');
  }

  /**
   * Runs the program over the frame u8[off, off + caplen) whose length on the wire is wirelen.
   * Returns the bytes to keep (0: reject). Allocation-free, bounded, never throws.
   */
  run(u8: Uint8Array, off: number, caplen: number, wirelen: number): number {
    const op = this.op,
      jt = this.jt,
      jf = this.jf,
      kk = this.k,
      mem = this.mem,
      n = this.length;
    if (off < 0 || caplen < 0) return 0;
    if (off + caplen > u8.length) caplen = u8.length - off;
    let a = 0,
      x = 0,
      p = 0;
    for (let pc = 0; pc < n; pc++) {
      const k = kk[pc];
      switch (op[pc]) {
        case 0: // BPF_RET | BPF_K
          return k;
        case 1: // BPF_RET | BPF_A
          return a;
        case 2: // BPF_RET | BPF_X
          return x;
        case 3: // BPF_LD | BPF_W | BPF_ABS
          if (k > caplen - 4) return 0;
          p = off + k;
          a = ((u8[p] << 24) | (u8[p + 1] << 16) | (u8[p + 2] << 8) | u8[p + 3]) >>> 0;
          break;
        case 4: // BPF_LD | BPF_H | BPF_ABS
          if (k > caplen - 2) return 0;
          p = off + k;
          a = (u8[p] << 8) | u8[p + 1];
          break;
        case 5: // BPF_LD | BPF_B | BPF_ABS
          if (k >= caplen) return 0;
          a = u8[off + k];
          break;
        case 6: // BPF_LD | BPF_W | BPF_LEN
          a = wirelen >>> 0;
          break;
        case 7: // BPF_LDX | BPF_W | BPF_LEN
          x = wirelen >>> 0;
          break;
        case 8: // BPF_LD | BPF_W | BPF_IND
          p = x + k; // both < 2^32: exact in a double
          if (p > caplen - 4) return 0;
          p += off;
          a = ((u8[p] << 24) | (u8[p + 1] << 16) | (u8[p + 2] << 8) | u8[p + 3]) >>> 0;
          break;
        case 9: // BPF_LD | BPF_H | BPF_IND
          p = x + k;
          if (p > caplen - 2) return 0;
          p += off;
          a = (u8[p] << 8) | u8[p + 1];
          break;
        case 10: // BPF_LD | BPF_B | BPF_IND
          p = x + k;
          if (p >= caplen) return 0;
          a = u8[off + p];
          break;
        case 11: // BPF_LDX | BPF_B | BPF_MSH
          if (k >= caplen) return 0;
          x = (u8[off + k] & 0x0f) << 2;
          break;
        case 12: // BPF_LD | BPF_IMM
          a = k;
          break;
        case 13: // BPF_LDX | BPF_W | BPF_IMM
          x = k;
          break;
        case 14: // BPF_LD | BPF_MEM
          a = mem[k];
          break;
        case 15: // BPF_LDX | BPF_W | BPF_MEM
          x = mem[k];
          break;
        case 16: // BPF_ST
          mem[k] = a;
          break;
        case 17: // BPF_STX
          mem[k] = x;
          break;
        case 18: // BPF_JMP | BPF_JA
          pc += k;
          break;
        case 19: // BPF_JMP | BPF_JGT | BPF_K
          pc += a > k ? jt[pc] : jf[pc];
          break;
        case 20: // BPF_JMP | BPF_JGE | BPF_K
          pc += a >= k ? jt[pc] : jf[pc];
          break;
        case 21: // BPF_JMP | BPF_JEQ | BPF_K
          pc += a === k ? jt[pc] : jf[pc];
          break;
        case 22: // BPF_JMP | BPF_JSET | BPF_K
          pc += (a & k) !== 0 ? jt[pc] : jf[pc];
          break;
        case 23: // BPF_JMP | BPF_JGT | BPF_X
          pc += a > x ? jt[pc] : jf[pc];
          break;
        case 24: // BPF_JMP | BPF_JGE | BPF_X
          pc += a >= x ? jt[pc] : jf[pc];
          break;
        case 25: // BPF_JMP | BPF_JEQ | BPF_X
          pc += a === x ? jt[pc] : jf[pc];
          break;
        case 26: // BPF_JMP | BPF_JSET | BPF_X
          pc += (a & x) !== 0 ? jt[pc] : jf[pc];
          break;
        case 27: // BPF_ALU | BPF_ADD | BPF_X
          a = (a + x) >>> 0;
          break;
        case 28: // BPF_ALU | BPF_SUB | BPF_X
          a = (a - x) >>> 0;
          break;
        case 29: // BPF_ALU | BPF_MUL | BPF_X
          a = Math.imul(a, x) >>> 0;
          break;
        case 30: // BPF_ALU | BPF_DIV | BPF_X
          if (x === 0) return 0;
          a = Math.floor(a / x) >>> 0;
          break;
        case 31: // BPF_ALU | BPF_MOD | BPF_X
          if (x === 0) return 0;
          a = (a % x) >>> 0;
          break;
        case 32: // BPF_ALU | BPF_AND | BPF_X
          a = (a & x) >>> 0;
          break;
        case 33: // BPF_ALU | BPF_OR | BPF_X
          a = (a | x) >>> 0;
          break;
        case 34: // BPF_ALU | BPF_XOR | BPF_X
          a = (a ^ x) >>> 0;
          break;
        // Shifts by 32 or more give 0, as the C operation does on the machines libpcap runs on
        // for its own generated code (it never emits them); JavaScript would shift modulo 32.
        case 35: // BPF_ALU | BPF_LSH | BPF_X
          a = x < 32 ? (a << x) >>> 0 : 0;
          break;
        case 36: // BPF_ALU | BPF_RSH | BPF_X
          a = x < 32 ? a >>> x : 0;
          break;
        case 37: // BPF_ALU | BPF_ADD | BPF_K
          a = (a + k) >>> 0;
          break;
        case 38: // BPF_ALU | BPF_SUB | BPF_K
          a = (a - k) >>> 0;
          break;
        case 39: // BPF_ALU | BPF_MUL | BPF_K
          a = Math.imul(a, k) >>> 0;
          break;
        case 40: // BPF_ALU | BPF_DIV | BPF_K
          a = Math.floor(a / k) >>> 0;
          break;
        case 41: // BPF_ALU | BPF_MOD | BPF_K
          a = (a % k) >>> 0;
          break;
        case 42: // BPF_ALU | BPF_AND | BPF_K
          a = (a & k) >>> 0;
          break;
        case 43: // BPF_ALU | BPF_OR | BPF_K
          a = (a | k) >>> 0;
          break;
        case 44: // BPF_ALU | BPF_XOR | BPF_K
          a = (a ^ k) >>> 0;
          break;
        case 45: // BPF_ALU | BPF_LSH | BPF_K
          a = k < 32 ? (a << k) >>> 0 : 0;
          break;
        case 46: // BPF_ALU | BPF_RSH | BPF_K
          a = k < 32 ? a >>> k : 0;
          break;
        case 47: // BPF_ALU | BPF_NEG
          a = -a >>> 0;
          break;
        case 48: // BPF_MISC | BPF_TAX
          x = a;
          break;
        case 49: // BPF_MISC | BPF_TXA
          a = x;
          break;
        default:
          return 0; // unreachable after validate()
      }
    }
    return 0; // unreachable: validate() demands a final return
  }
}
