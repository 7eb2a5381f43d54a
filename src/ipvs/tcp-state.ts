/**
 * IPVS's TCP connection states and transition tables (ip_vs_proto_tcp.c: tcp_states,
 * tcp_timeouts, tcp_state_active_table, set_tcp_state();
 * docs/ipvs-behaviour.md#tcp-states-and-timeouts), secure_tcp off. The director does not track
 * sequence numbers: the state only decides the entry's timeout and whether it counts as ActiveConn
 * or InActConn.
 *
 * Row choice (tcp_state_idx): RST beats SYN beats FIN beats ACK; a segment with none of the four
 * forces CLOSE. INPUT is client -> director, OUTPUT is real server -> client (NAT replies).
 */
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../packet/tcp.js';

export const TcpState = {
  NONE: 0,
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT: 4,
  TIME_WAIT: 5,
  CLOSE: 6,
  CLOSE_WAIT: 7,
  LAST_ACK: 8,
  LISTEN: 9,
  SYNACK: 10,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];
export const TCP_STATE_COUNT = 11;

export const TCP_STATE_NAMES: readonly string[] = [
  'NONE',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'SYNACK',
];

/** tcp_state_active_table: these states count as ActiveConn (current kernels). */
export const TCP_STATE_ACTIVE: readonly boolean[] = [
  false,
  true,
  true,
  true,
  false,
  false,
  false,
  false,
  false,
  false,
  true,
];

/** Default timeouts in seconds (tcp_timeouts). */
export const TCP_DEFAULT_TIMEOUTS_S: readonly number[] = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];

/** Column of the transition tables. */
export const FlagClass = { SYN: 0, FIN: 1, ACK: 2, RST: 3, NONE: 4 } as const;
export type FlagClass = (typeof FlagClass)[keyof typeof FlagClass];

export const Dir = { INPUT: 0, OUTPUT: 1, INPUT_ONLY: 2 } as const;
export type Dir = (typeof Dir)[keyof typeof Dir];

/** tcp_state_idx: the table column for a segment's flags. */
export function flagClass(flags: number): FlagClass {
  if ((flags & TCP_RST) !== 0) return FlagClass.RST;
  if ((flags & TCP_SYN) !== 0) return FlagClass.SYN;
  if ((flags & TCP_FIN) !== 0) return FlagClass.FIN;
  if ((flags & TCP_ACK) !== 0) return FlagClass.ACK;
  return FlagClass.NONE;
}

// (NONE and SYNACK never appear as a next state in these tables.)
const {
  ESTABLISHED: ES,
  SYN_SENT: SS,
  SYN_RECV: SR,
  FIN_WAIT: FW,
  TIME_WAIT: TW,
  CLOSE: CL,
  CLOSE_WAIT: CW,
  LAST_ACK: LA,
  LISTEN: LI,
} = TcpState;

// Rows: current state; columns: syn, fin, ack, rst (ip_vs_proto_tcp.c tcp_states, transposed:
// the kernel's rows are the segment classes).
const INPUT = [
  [SR, CL, ES, CL], // NONE
  [ES, CW, ES, CL], // ESTABLISHED
  [ES, SS, SS, CL], // SYN_SENT
  [SR, TW, ES, SR], // SYN_RECV
  [SR, TW, FW, CL], // FIN_WAIT
  [SR, TW, TW, CL], // TIME_WAIT
  [SR, CL, CL, CL], // CLOSE
  [SR, CW, CW, CL], // CLOSE_WAIT
  [SR, LA, CL, LA], // LAST_ACK
  [SR, LI, LI, LI], // LISTEN
  [SR, TW, ES, SR], // SYNACK
];
const OUTPUT = [
  [SS, TW, ES, CL], // NONE
  [ES, FW, ES, CL], // ESTABLISHED
  [SS, SS, SS, SS], // SYN_SENT
  [SR, TW, ES, CL], // SYN_RECV
  [SS, FW, FW, CL], // FIN_WAIT
  [SS, TW, TW, TW], // TIME_WAIT
  [SS, CL, CL, CL], // CLOSE
  [SS, TW, CW, CL], // CLOSE_WAIT
  [SS, LA, LA, CL], // LAST_ACK
  [LI, LI, ES, CL], // LISTEN
  [SR, TW, ES, CL], // SYNACK
];
const INPUT_ONLY = [
  [SR, CL, ES, CL], // NONE
  [ES, FW, ES, CL], // ESTABLISHED
  [ES, SS, SS, CL], // SYN_SENT
  [SR, TW, ES, SR], // SYN_RECV
  [SR, FW, FW, CL], // FIN_WAIT
  [SR, TW, TW, CL], // TIME_WAIT
  [SR, CL, CL, CL], // CLOSE
  [SR, CW, CW, CL], // CLOSE_WAIT
  [SR, LA, CL, LA], // LAST_ACK
  [SR, LI, LI, LI], // LISTEN
  [SR, TW, ES, CL], // SYNACK
];

/** Flattened [dir][state][class] -> next state, one typed array for the hot path. */
const NEXT = new Uint8Array(3 * TCP_STATE_COUNT * 4);
const tables = [INPUT, OUTPUT, INPUT_ONLY];
for (let d = 0; d < 3; d++) {
  for (let s = 0; s < TCP_STATE_COUNT; s++) {
    for (let c = 0; c < 4; c++) NEXT[(d * TCP_STATE_COUNT + s) * 4 + c] = tables[d][s][c];
  }
}

/** The next state for a segment; a segment without SYN/FIN/ACK/RST forces CLOSE. */
export function tcpNextState(dir: Dir, state: number, cls: FlagClass): number {
  if (cls === FlagClass.NONE) return CL;
  return NEXT[(dir * TCP_STATE_COUNT + state) * 4 + cls];
}

/** The TCP flag bits the transition depends on (FIN, SYN, RST, ACK; PSH, URG and the rest do not). */
const STATE_FLAG_MASK = TCP_FIN | TCP_SYN | TCP_RST | TCP_ACK;
const FLAG_COLUMNS = STATE_FLAG_MASK + 1;

/**
 * tcpNextState(dir, state, flagClass(flags)) precomputed for every combination of the four flag
 * bits: one table read per segment instead of flagClass()'s four tests (the per-packet path).
 */
const NEXT_BY_FLAGS = new Uint8Array(3 * TCP_STATE_COUNT * FLAG_COLUMNS);
for (let d = 0; d < 3; d++) {
  for (let s = 0; s < TCP_STATE_COUNT; s++) {
    for (let f = 0; f < FLAG_COLUMNS; f++)
      NEXT_BY_FLAGS[(d * TCP_STATE_COUNT + s) * FLAG_COLUMNS + f] = tcpNextState(d as Dir, s, flagClass(f));
  }
}

/** The next state for a segment with TCP flags `flags` (the flags byte of the header). */
export function tcpNextStateByFlags(dir: Dir, state: number, flags: number): number {
  return NEXT_BY_FLAGS[(dir * TCP_STATE_COUNT + state) * FLAG_COLUMNS + (flags & STATE_FLAG_MASK)];
}
