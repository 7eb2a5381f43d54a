/**
 * ipvsadm's `-b` words and the IP_VS_SVC_F_SCHED* bits they stand for, in one table: tapvsadm
 * parses them, the daemon checks what a request carries, listings and -S print them.
 *
 * Rules (ipvsadm.c, parse_sched_flags() and print_sched_flags()): flag-1..flag-3 go with any
 * scheduler; sh-* only with sh and mh-* only with mh, checked against the `-s` value, or ipvsadm's
 * default scheduler when there is none. The protocol carries a word for every set bit (sh and mh
 * keep `flag-3`), so no bit is lost between the daemon and the tool. What ipvsadm prints is
 * print_sched_flags()'s choice (printedSchedFlagWords): sh and mh show only their two named flags,
 * so `-s sh -b flag-3` lists as `sh ()` and saves as `-b ` with nothing after it, as ipvsadm does.
 *
 * The bits themselves are the model's (ipvs/service.ts): schedulers read them, this file only
 * names them.
 */
import { TapvsError } from '../errors.js';
import { DEFAULT_SCHEDULER } from '../ipvs/sched/registry.js';
import { SCHED_FLAG_1, SCHED_FLAG_2, SCHED_FLAG_3 } from '../ipvs/service.js';

/** Each word: its bit and the one scheduler it belongs to (null: every scheduler). */
const WORDS: ReadonlyMap<string, { bit: number; sched: string | null }> = new Map([
  ['flag-1', { bit: SCHED_FLAG_1, sched: null }],
  ['flag-2', { bit: SCHED_FLAG_2, sched: null }],
  ['flag-3', { bit: SCHED_FLAG_3, sched: null }],
  ['sh-fallback', { bit: SCHED_FLAG_1, sched: 'sh' }],
  ['sh-port', { bit: SCHED_FLAG_2, sched: 'sh' }],
  ['mh-fallback', { bit: SCHED_FLAG_1, sched: 'mh' }],
  ['mh-port', { bit: SCHED_FLAG_2, sched: 'mh' }],
]);

/**
 * `-b` words → bits, with ipvsadm's checks. Words are taken left to right and the first bad one
 * is reported, as ipvsadm's strtok loop does; empty words (",," or a trailing comma) are skipped,
 * and a word still holding commas is split. Throws TapvsError('BAD_ARGUMENT') with ipvsadm's
 * message (ipvsadm exits 2 with it).
 */
export function schedFlagsFromWords(sched: string, words: readonly string[]): number {
  const s = sched.length > 0 ? sched : DEFAULT_SCHEDULER;
  let flags = 0;
  for (const word of words) {
    for (const w of word.split(',')) {
      if (w === '') continue;
      const known = WORDS.get(w);
      if (known === undefined) throw new TapvsError('BAD_ARGUMENT', `invalid scheduler flag \`${w}'`);
      if (known.sched !== null && known.sched !== s) {
        throw new TapvsError('BAD_ARGUMENT', `incompatible scheduler flag \`${w}'`);
      }
      flags |= known.bit;
    }
  }
  return flags;
}

/** The bits of words as a listing carries them; unknown words count for nothing. */
export function schedFlagBits(words: readonly string[]): number {
  let bits = 0;
  for (const w of words) bits |= WORDS.get(w)?.bit ?? 0;
  return bits;
}

/**
 * Bits → the words ipvsadm lists in parentheses and -S writes after -b, in print_sched_flags()'s
 * order (bit 1, bit 2, bit 3): sh and mh name bits 1 and 2 after themselves and keep `flag-3`,
 * other schedulers show flag-N. Empty when no bit is set.
 */
export function schedFlagWords(sched: string, flags: number): string[] {
  const named = sched === 'sh' || sched === 'mh';
  const out: string[] = [];
  for (const bit of [SCHED_FLAG_1, SCHED_FLAG_2, SCHED_FLAG_3]) {
    if ((flags & bit) === 0) continue;
    for (const [word, w] of WORDS) {
      if (w.bit === bit && w.sched === (named && bit !== SCHED_FLAG_3 ? sched : null)) out.push(word);
    }
  }
  return out;
}

/**
 * The words ipvsadm.c's print_sched_flags() prints between the parentheses of -L and after -b of
 * -S: for sh only sh-fallback and sh-port, for mh only mh-fallback and mh-port (their flag-3 has
 * no word there), for every other scheduler flag-1..flag-3. print_service_entry() prints the
 * parentheses (or -b) whenever any of the three bits is set, so this may be empty.
 */
export function printedSchedFlagWords(sched: string, flags: number): string[] {
  const named = sched === 'sh' || sched === 'mh';
  return schedFlagWords(sched, named ? flags & ~SCHED_FLAG_3 : flags);
}
