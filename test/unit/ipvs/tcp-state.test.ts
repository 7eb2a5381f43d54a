/**
 * Every row of IPVS's TCP transition tables (ip_vs_proto_tcp.c, tcp_states, transcribed below as
 * the oracle), plus flag priority, the no-flag rule, timeouts and the active-state set
 * (tcp_timeouts, tcp_state_active_table; docs/ipvs-behaviour.md#tcp-states-and-timeouts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Dir,
  FlagClass,
  flagClass,
  TCP_DEFAULT_TIMEOUTS_S,
  TCP_STATE_ACTIVE,
  TCP_STATE_NAMES,
  tcpNextState,
  tcpNextStateByFlags,
} from '../../../src/ipvs/tcp-state.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG } from '../../../src/packet/tcp.js';

const TABLES: Record<string, string> = {
  INPUT: `
| NONE | SYN_RECV | CLOSE | ESTABLISHED | CLOSE |
| ESTABLISHED | ESTABLISHED | CLOSE_WAIT | ESTABLISHED | CLOSE |
| SYN_SENT | ESTABLISHED | SYN_SENT | SYN_SENT | CLOSE |
| SYN_RECV | SYN_RECV | TIME_WAIT | ESTABLISHED | SYN_RECV |
| FIN_WAIT | SYN_RECV | TIME_WAIT | FIN_WAIT | CLOSE |
| TIME_WAIT | SYN_RECV | TIME_WAIT | TIME_WAIT | CLOSE |
| CLOSE | SYN_RECV | CLOSE | CLOSE | CLOSE |
| CLOSE_WAIT | SYN_RECV | CLOSE_WAIT | CLOSE_WAIT | CLOSE |
| LAST_ACK | SYN_RECV | LAST_ACK | CLOSE | LAST_ACK |
| LISTEN | SYN_RECV | LISTEN | LISTEN | LISTEN |
| SYNACK | SYN_RECV | TIME_WAIT | ESTABLISHED | SYN_RECV |`,
  OUTPUT: `
| NONE | SYN_SENT | TIME_WAIT | ESTABLISHED | CLOSE |
| ESTABLISHED | ESTABLISHED | FIN_WAIT | ESTABLISHED | CLOSE |
| SYN_SENT | SYN_SENT | SYN_SENT | SYN_SENT | SYN_SENT |
| SYN_RECV | SYN_RECV | TIME_WAIT | ESTABLISHED | CLOSE |
| FIN_WAIT | SYN_SENT | FIN_WAIT | FIN_WAIT | CLOSE |
| TIME_WAIT | SYN_SENT | TIME_WAIT | TIME_WAIT | TIME_WAIT |
| CLOSE | SYN_SENT | CLOSE | CLOSE | CLOSE |
| CLOSE_WAIT | SYN_SENT | TIME_WAIT | CLOSE_WAIT | CLOSE |
| LAST_ACK | SYN_SENT | LAST_ACK | LAST_ACK | CLOSE |
| LISTEN | LISTEN | LISTEN | ESTABLISHED | CLOSE |
| SYNACK | SYN_RECV | TIME_WAIT | ESTABLISHED | CLOSE |`,
  INPUT_ONLY: `
| NONE | SYN_RECV | CLOSE | ESTABLISHED | CLOSE |
| ESTABLISHED | ESTABLISHED | FIN_WAIT | ESTABLISHED | CLOSE |
| SYN_SENT | ESTABLISHED | SYN_SENT | SYN_SENT | CLOSE |
| SYN_RECV | SYN_RECV | TIME_WAIT | ESTABLISHED | SYN_RECV |
| FIN_WAIT | SYN_RECV | FIN_WAIT | FIN_WAIT | CLOSE |
| TIME_WAIT | SYN_RECV | TIME_WAIT | TIME_WAIT | CLOSE |
| CLOSE | SYN_RECV | CLOSE | CLOSE | CLOSE |
| CLOSE_WAIT | SYN_RECV | CLOSE_WAIT | CLOSE_WAIT | CLOSE |
| LAST_ACK | SYN_RECV | LAST_ACK | CLOSE | LAST_ACK |
| LISTEN | SYN_RECV | LISTEN | LISTEN | LISTEN |
| SYNACK | SYN_RECV | TIME_WAIT | ESTABLISHED | CLOSE |`,
};

const COLS = [FlagClass.SYN, FlagClass.FIN, FlagClass.ACK, FlagClass.RST] as const;
const COL_NAMES = ['syn', 'fin', 'ack', 'rst'];
const state = (n: string): number => {
  const i = TCP_STATE_NAMES.indexOf(n);
  assert.ok(i >= 0, n);
  return i;
};

for (const [table, text] of Object.entries(TABLES)) {
  const dir = Dir[table as keyof typeof Dir];
  for (const line of text.trim().split('\n')) {
    const [cur, ...next] = line
      .split('|')
      .map((x) => x.trim())
      .filter((x) => x.length > 0);
    test(`tcp ${table}: ${cur} + syn/fin/ack/rst -> ${next.join('/')}`, () => {
      for (let c = 0; c < 4; c++) {
        assert.equal(TCP_STATE_NAMES[tcpNextState(dir, state(cur), COLS[c])], next[c], `${cur} ${COL_NAMES[c]}`);
      }
    });
  }
}

test('tcp flags: RST beats SYN beats FIN beats ACK; no flag at all forces CLOSE', () => {
  assert.equal(flagClass(TCP_RST | TCP_SYN | TCP_FIN | TCP_ACK), FlagClass.RST);
  assert.equal(flagClass(TCP_SYN | TCP_ACK), FlagClass.SYN);
  assert.equal(flagClass(TCP_FIN | TCP_ACK), FlagClass.FIN);
  assert.equal(flagClass(TCP_ACK | TCP_PSH), FlagClass.ACK);
  assert.equal(flagClass(TCP_PSH | TCP_URG), FlagClass.NONE);
  assert.equal(TCP_STATE_NAMES[tcpNextState(Dir.INPUT, state('ESTABLISHED'), FlagClass.NONE)], 'CLOSE');
});

test('tcp timeouts and active states are the kernel defaults', () => {
  const want: Record<string, [number, boolean]> = {
    NONE: [2, false],
    ESTABLISHED: [900, true],
    SYN_SENT: [120, true],
    SYN_RECV: [60, true],
    FIN_WAIT: [120, false],
    TIME_WAIT: [120, false],
    CLOSE: [10, false],
    CLOSE_WAIT: [60, false],
    LAST_ACK: [30, false],
    LISTEN: [120, false],
    SYNACK: [120, true],
  };
  for (const [n, [t, a]] of Object.entries(want)) {
    assert.equal(TCP_DEFAULT_TIMEOUTS_S[state(n)], t, n);
    assert.equal(TCP_STATE_ACTIVE[state(n)], a, n);
  }
});

test('the per-packet table (by flags byte) gives tcpNextState(flagClass(flags)) for every flags byte, state and direction', () => {
  for (const dir of [Dir.INPUT, Dir.OUTPUT, Dir.INPUT_ONLY]) {
    for (let state = 0; state < TCP_STATE_NAMES.length; state++) {
      for (let flags = 0; flags < 256; flags++) {
        assert.equal(
          tcpNextStateByFlags(dir, state, flags),
          tcpNextState(dir, state, flagClass(flags)),
          `dir ${dir} state ${TCP_STATE_NAMES[state]} flags 0x${flags.toString(16)}`,
        );
      }
    }
  }
});
