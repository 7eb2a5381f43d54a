/**
 * The classic BPF interpreter, instruction class by instruction class, on hand-assembled
 * programs: loads (and loads past the captured bytes, which reject), ALU, jumps, returns,
 * scratch memory, and the validation that keeps run() bounded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTapvsError } from '../../../src/errors.js';
import {
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_B,
  BPF_DIV,
  BPF_H,
  BPF_IMM,
  BPF_IND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_LSH,
  BPF_MEM,
  BPF_MISC,
  BPF_MOD,
  BPF_MSH,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RET,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_TAX,
  BPF_TXA,
  BPF_W,
  BPF_X,
  BPF_XOR,
  BpfProgram,
} from '../../../src/trace/bpf.js';

type Insn = [number, number, number, number];
const I = (code: number, k = 0, jt = 0, jf = 0): Insn => [code, jt, jf, k >>> 0];
const prog = (...insns: Insn[]): BpfProgram => new BpfProgram(Uint32Array.from(insns.flat()));
const RET_A = I(BPF_RET | BPF_A);
/** Runs `insns` then `ret A` over `pkt` and returns A (or 0 when the program rejected early). */
const a = (pkt: number[], ...insns: Insn[]): number => {
  const u8 = Uint8Array.from([0xee, ...pkt, 0xee]); // guard bytes: the frame is [1, 1 + len)
  return prog(...insns, RET_A).run(u8, 1, pkt.length, pkt.length + 100);
};
const PKT = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];

test('bpf: absolute loads are big-endian; past the captured bytes they reject', () => {
  assert.equal(a(PKT, I(BPF_LD | BPF_W | BPF_ABS, 0)), 0x12345678);
  assert.equal(a(PKT, I(BPF_LD | BPF_W | BPF_ABS, 4)), 0x9abcdef0);
  assert.equal(a(PKT, I(BPF_LD | BPF_H | BPF_ABS, 6)), 0xdef0);
  assert.equal(a(PKT, I(BPF_LD | BPF_B | BPF_ABS, 7)), 0xf0);
  // One byte too far each (the guard byte after the frame is never read).
  const reject = prog(I(BPF_LD | BPF_W | BPF_ABS, 5), I(BPF_RET | BPF_K, 99));
  assert.equal(reject.run(Uint8Array.from([...PKT, 1]), 0, 8, 8), 0);
  assert.equal(a(PKT, I(BPF_LD | BPF_IMM, 7), I(BPF_LD | BPF_H | BPF_ABS, 7)), 0);
  assert.equal(a(PKT, I(BPF_LD | BPF_IMM, 7), I(BPF_LD | BPF_B | BPF_ABS, 8)), 0);
  // k near 2^32 (the kernel's ancillary offsets) rejects too.
  assert.equal(a(PKT, I(BPF_LD | BPF_IMM, 7), I(BPF_LD | BPF_W | BPF_ABS, 0xfffff000)), 0);
});

test('bpf: indexed loads, the IP header length load (msh), lengths and immediates', () => {
  assert.equal(a(PKT, I(BPF_LDX | BPF_W | BPF_IMM, 2), I(BPF_LD | BPF_W | BPF_IND, 2)), 0x9abcdef0);
  assert.equal(a(PKT, I(BPF_LDX | BPF_W | BPF_IMM, 2), I(BPF_LD | BPF_H | BPF_IND, 4)), 0xdef0);
  assert.equal(a(PKT, I(BPF_LDX | BPF_W | BPF_IMM, 6), I(BPF_LD | BPF_B | BPF_IND, 1)), 0xf0);
  assert.equal(a(PKT, I(BPF_LDX | BPF_W | BPF_IMM, 6), I(BPF_LD | BPF_B | BPF_IND, 2)), 0);
  assert.equal(a(PKT, I(BPF_LDX | BPF_W | BPF_IMM, 0xffffffff), I(BPF_LD | BPF_B | BPF_IND, 1)), 0, 'no wrap-around');
  assert.equal(a(PKT, I(BPF_LDX | BPF_W | BPF_IMM, 5), I(BPF_LD | BPF_W | BPF_IND, 0)), 0);
  // X = 4 * (P[k] & 0xf): 0x45 -> 20.
  assert.equal(a([0x45, 0], I(BPF_LDX | BPF_B | BPF_MSH, 0), I(BPF_MISC | BPF_TXA)), 20);
  assert.equal(a([0x45, 0], I(BPF_LDX | BPF_B | BPF_MSH, 2)), 0);
  assert.equal(a(PKT, I(BPF_LD | BPF_W | BPF_LEN)), 108, 'the wire length, not the captured one');
  assert.equal(a(PKT, I(BPF_LDX | BPF_W | BPF_LEN), I(BPF_MISC | BPF_TXA)), 108);
  assert.equal(a(PKT, I(BPF_LD | BPF_IMM, 0xdeadbeef)), 0xdeadbeef);
});

test('bpf: scratch memory, tax and txa', () => {
  assert.equal(
    a(
      PKT,
      I(BPF_LD | BPF_IMM, 11),
      I(BPF_ST, 15),
      I(BPF_LDX | BPF_W | BPF_IMM, 22),
      I(BPF_STX, 0),
      I(BPF_LD | BPF_MEM, 0),
      I(BPF_LDX | BPF_W | BPF_MEM, 15),
      I(BPF_ALU | BPF_ADD | BPF_X),
    ),
    33,
  );
  assert.equal(a(PKT, I(BPF_LD | BPF_IMM, 5), I(BPF_MISC | BPF_TAX), I(BPF_LD | BPF_IMM, 0), I(BPF_MISC | BPF_TXA)), 5);
});

test('bpf: ALU operations with K and X are unsigned 32-bit', () => {
  const alu = (op: number, x: number, y: number): [number, number] => [
    a(PKT, I(BPF_LD | BPF_IMM, x), I(BPF_ALU | op | BPF_K, y)),
    a(PKT, I(BPF_LDX | BPF_W | BPF_IMM, y), I(BPF_LD | BPF_IMM, x), I(BPF_ALU | op | BPF_X)),
  ];
  const cases: Array<[number, number, number, number]> = [
    [BPF_ADD, 0xffffffff, 2, 1],
    [BPF_SUB, 1, 2, 0xffffffff],
    [BPF_MUL, 0x10000, 0x10001, 0x10000],
    [BPF_MUL, 0xffffffff, 0xffffffff, 1],
    [BPF_DIV, 0xffffffff, 16, 0x0fffffff],
    [BPF_MOD, 0xffffffff, 10, 5],
    [BPF_AND, 0xf0f0f0f0, 0xff00ff00, 0xf000f000],
    [BPF_OR, 0xf0000000, 0x0f, 0xf000000f],
    [BPF_XOR, 0xffffffff, 0x0f0f0f0f, 0xf0f0f0f0],
    [BPF_LSH, 0x80000001, 1, 2],
    [BPF_RSH, 0x80000000, 31, 1],
    [BPF_LSH, 1, 32, 0],
    [BPF_RSH, 0x80000000, 40, 0],
  ];
  for (const [op, x, y, want] of cases) {
    assert.deepEqual(alu(op, x, y), [want, want], `op 0x${op.toString(16)} ${x} ${y}`);
  }
  assert.equal(a(PKT, I(BPF_LD | BPF_IMM, 1), I(BPF_ALU | BPF_NEG)), 0xffffffff);
  // Division by a zero X rejects the packet (K = 0 is refused when the program is built).
  assert.equal(a(PKT, I(BPF_LD | BPF_IMM, 7), I(BPF_LDX | BPF_W | BPF_IMM, 0), I(BPF_ALU | BPF_DIV | BPF_X)), 0);
  assert.equal(a(PKT, I(BPF_LD | BPF_IMM, 7), I(BPF_LDX | BPF_W | BPF_IMM, 0), I(BPF_ALU | BPF_MOD | BPF_X)), 0);
});

test('bpf: jumps compare unsigned, with K and with X; ja skips; ret K/A/X', () => {
  /** 1 when the jump is taken, 2 when not. */
  const jmp = (op: number, x: number, y: number, useX: boolean): number =>
    prog(
      I(BPF_LDX | BPF_W | BPF_IMM, y),
      I(BPF_LD | BPF_IMM, x),
      useX ? I(BPF_JMP | op | BPF_X, 0, 0, 1) : I(BPF_JMP | op | BPF_K, y, 0, 1),
      I(BPF_RET | BPF_K, 1),
      I(BPF_RET | BPF_K, 2),
    ).run(new Uint8Array(0), 0, 0, 0);
  const cases: Array<[number, number, number, number]> = [
    [BPF_JEQ, 5, 5, 1],
    [BPF_JEQ, 5, 6, 2],
    [BPF_JGT, 0xffffffff, 1, 1],
    [BPF_JGT, 1, 1, 2],
    [BPF_JGE, 1, 1, 1],
    [BPF_JGE, 0, 0x80000000, 2],
    [BPF_JSET, 0x10, 0x30, 1],
    [BPF_JSET, 0x10, 0x20, 2],
  ];
  for (const [op, x, y, want] of cases) {
    assert.equal(jmp(op, x, y, false), want, `K op 0x${op.toString(16)} ${x} ${y}`);
    assert.equal(jmp(op, x, y, true), want, `X op 0x${op.toString(16)} ${x} ${y}`);
  }
  const ja = prog(I(BPF_JMP | BPF_JA, 1), I(BPF_RET | BPF_K, 1), I(BPF_RET | BPF_K, 2));
  assert.equal(ja.run(new Uint8Array(0), 0, 0, 0), 2);
  assert.equal(prog(I(BPF_LDX | BPF_W | BPF_IMM, 9), I(BPF_RET | BPF_X)).run(new Uint8Array(0), 0, 0, 0), 9);
  assert.equal(prog(I(BPF_RET | BPF_K, 262144)).run(new Uint8Array(0), 0, 0, 0), 262144);
});

test('bpf: programs that could run off or loop are refused when built', () => {
  const bad = (re: RegExp, ...insns: Insn[]): void =>
    assert.throws(
      () => prog(...insns),
      (e: unknown) => isTapvsError(e) && e.code === 'BAD_ARGUMENT' && re.test(e.message),
    );
  bad(/1 to 4096 instructions/);
  bad(/unknown opcode/, I(0xff), I(BPF_RET | BPF_K));
  bad(/jump out of the program/, I(BPF_JMP | BPF_JA, 1), I(BPF_RET | BPF_K));
  bad(/jump out of the program/, I(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), I(BPF_RET | BPF_K));
  bad(/scratch memory/, I(BPF_ST, 16), I(BPF_RET | BPF_K));
  bad(/scratch memory/, I(BPF_LD | BPF_MEM, 16), I(BPF_RET | BPF_K));
  bad(/division by zero/, I(BPF_ALU | BPF_DIV | BPF_K, 0), I(BPF_RET | BPF_K));
  bad(/end in a return/, I(BPF_LD | BPF_IMM, 1));
  assert.throws(() => new BpfProgram(new Uint32Array(4097 * 4)), /1 to 4096/);
});
