/**
 * The lab CLI's command line as data: `parseLabCommand(argv)` turns `npm run lab -- …` arguments
 * into one `LabCommand` or throws a `UsageError` (lab.ts prints it with the usage, exit status 2).
 * Pure: no I/O and no defaults from the environment, so it is unit-tested. Addresses stay strings
 * and prefix lengths numbers as written; lab-lib validates them against each other.
 */
import { parseArgs } from 'node:util';
import type { LabAddresses, LabAttach, RealServerKey } from './lab-lib.js';
import { LAB_METHODS, LAB_TUN_TYPES, type LabMethod, type LabTunType } from './lab-methods.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface UpCommand {
  readonly command: 'up';
  readonly director: boolean;
  readonly attach: LabAttach;
  readonly pcapMac: 'own' | 'nic';
  /** Only the addresses given on the command line. */
  readonly addresses: Partial<LabAddresses>;
  readonly rules: string | null;
  readonly keepalived: string | null;
  readonly socket: string | null;
  readonly tapvsdArgs: readonly string[];
  readonly readyTimeoutMs: number;
  /** `--method nat|dr|tun|fullnat` (null: the NAT lab without rules, as before). */
  readonly method: LabMethod | null;
  /** `--tun-type ipip|gue|gre`, with `--method tun` only (null: not given). */
  readonly tunType: LabTunType | null;
  /** `--ha`: two directors with VRRP and connection sync (lab/ha-lab.ts). */
  readonly ha: { readonly nopreempt: boolean; readonly vrrpVersion: 2 | 3; readonly advertIntS: number } | null;
}

/** `director kill|stop|start 1|2`: one of the two directors of `up --ha`. */
export interface DirectorCommand {
  readonly command: 'director';
  readonly action: 'kill' | 'stop' | 'start';
  readonly director: 1 | 2;
}

/** `peer up --priority N [--state S] [--vrid N] [--version 2|3]` / `peer down`: a keepalived on the external LAN. */
export type PeerCommand =
  | {
      readonly command: 'peer';
      readonly action: 'up';
      readonly priority: number;
      readonly state: 'MASTER' | 'BACKUP';
      readonly vrid: number;
      readonly version: 2 | 3;
    }
  | { readonly command: 'peer'; readonly action: 'down' };

/** `rs ACTION SERVER`: one real server's processes, failing mode or link. */
export type RsCommand =
  | { readonly command: 'rs'; readonly action: 'stop' | 'start' | 'fail' | 'heal'; readonly server: RealServerKey }
  | { readonly command: 'rs'; readonly action: 'link'; readonly server: RealServerKey; readonly state: 'up' | 'down' }
  | { readonly command: 'rs'; readonly action: 'status'; readonly server: RealServerKey | null };

export type LabCommand =
  | { readonly command: 'help' }
  | { readonly command: 'down' }
  | { readonly command: 'status' }
  | UpCommand
  | RsCommand
  | DirectorCommand
  | PeerCommand;

export const DEFAULT_READY_TIMEOUT_MS = 15_000;

/** Options of `up`, the only command that takes any. */
const UP_OPTIONS = {
  rules: { type: 'string' },
  keepalived: { type: 'string' },
  'no-director': { type: 'boolean' },
  pcap: { type: 'boolean' },
  packet: { type: 'boolean' },
  'pcap-nic-mac': { type: 'boolean' },
  socket: { type: 'string' },
  client: { type: 'string' },
  vip: { type: 'string' },
  'ext-prefix': { type: 'string' },
  dip: { type: 'string' },
  rs1: { type: 'string' },
  rs2: { type: 'string' },
  'int-prefix': { type: 'string' },
  'check-addr': { type: 'string' },
  'tapvsd-arg': { type: 'string', multiple: true },
  'ready-timeout': { type: 'string' },
  method: { type: 'string' },
  'tun-type': { type: 'string' },
  ha: { type: 'boolean' },
  nopreempt: { type: 'boolean' },
  'vrrp-version': { type: 'string' },
  'advert-int': { type: 'string' },
  priority: { type: 'string' },
  state: { type: 'string' },
  vrid: { type: 'string' },
  version: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const RS_ACTIONS = ['stop', 'start', 'fail', 'heal', 'status', 'link'] as const;

function realServer(word: string | undefined): RealServerKey {
  if (word === 'rs1' || word === 'rs2') return word;
  throw new UsageError(`expected a real server (rs1 or rs2), got ${JSON.stringify(word)}`);
}

function parseRs(words: readonly string[]): RsCommand {
  const [action, ...rest] = words;
  const known = RS_ACTIONS.find((a) => a === action);
  if (known === undefined) throw new UsageError(`rs: expected one of ${RS_ACTIONS.join(', ')}`);
  const arity = (n: number, shape: string): void => {
    if (rest.length !== n) throw new UsageError(`usage: rs ${shape}`);
  };
  switch (known) {
    case 'status':
      if (rest.length > 1) throw new UsageError('usage: rs status [rs1|rs2]');
      return { command: 'rs', action: known, server: rest.length === 0 ? null : realServer(rest[0]) };
    case 'link': {
      arity(2, 'link up|down rs1|rs2');
      const state = rest[0];
      if (state !== 'up' && state !== 'down') throw new UsageError('usage: rs link up|down rs1|rs2');
      return { command: 'rs', action: known, state, server: realServer(rest[1]) };
    }
    default:
      arity(1, `${known} rs1|rs2`);
      return { command: 'rs', action: known, server: realServer(rest[0]) };
  }
}

function splitArgs(argv: readonly string[]) {
  // `--tapvsd-arg --no-offload`: the next word is the value whatever it looks like (parseArgs
  // would refuse a value that starts with a dash unless written --tapvsd-arg=--no-offload).
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (argv[i] === '--tapvsd-arg' && next !== undefined) {
      args.push(`--tapvsd-arg=${next}`);
      i++;
    } else args.push(argv[i] ?? '');
  }
  try {
    return parseArgs({ args, options: UP_OPTIONS, allowPositionals: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The command in `argv` (what follows `lab.js`), or a UsageError saying what is wrong. */
export function parseLabCommand(argv: readonly string[]): LabCommand {
  const { values: v, positionals } = splitArgs(argv);
  if (v.help === true) return { command: 'help' };
  const [command, ...words] = positionals;
  if (command === undefined) throw new UsageError('expected a command');
  if (command === 'peer') return parsePeer(words, v);
  if (command !== 'up' && Object.keys(v).length > 0) throw new UsageError(`${command} takes no options`);
  if (command === 'rs') return parseRs(words);
  if (command === 'director') {
    const [action, n] = words;
    if (
      (action !== 'kill' && action !== 'stop' && action !== 'start') ||
      (n !== '1' && n !== '2') ||
      words.length !== 2
    )
      throw new UsageError('usage: director kill|stop|start 1|2');
    return { command: 'director', action, director: n === '1' ? 1 : 2 };
  }
  if (words.length > 0) throw new UsageError(`${command} takes no arguments, got ${words.join(' ')}`);
  if (command === 'down' || command === 'status') return { command };
  if (command !== 'up') throw new UsageError(`unknown command ${JSON.stringify(command)}`);

  const addresses: { -readonly [K in keyof LabAddresses]?: LabAddresses[K] } = {};
  if (v.client !== undefined) addresses.client = v.client;
  if (v.vip !== undefined) addresses.vip = v.vip;
  if (v.dip !== undefined) addresses.dip = v.dip;
  if (v.rs1 !== undefined) addresses.rs1 = v.rs1;
  if (v.rs2 !== undefined) addresses.rs2 = v.rs2;
  if (v['check-addr'] !== undefined) addresses.check = v['check-addr'];
  if (v['ext-prefix'] !== undefined) addresses.extPrefixLen = Number(v['ext-prefix']);
  if (v['int-prefix'] !== undefined) addresses.intPrefixLen = Number(v['int-prefix']);
  const readyTimeoutMs = v['ready-timeout'] !== undefined ? Number(v['ready-timeout']) : DEFAULT_READY_TIMEOUT_MS;
  if (!Number.isInteger(readyTimeoutMs) || readyTimeoutMs <= 0)
    throw new UsageError('--ready-timeout wants milliseconds');
  if (v['pcap-nic-mac'] === true && v.pcap !== true && v.packet !== true)
    throw new UsageError('--pcap-nic-mac goes with --pcap or --packet');
  if (v.pcap === true && v.packet === true) throw new UsageError('--pcap or --packet, not both');
  // tapvsd takes one source of virtual services: ipvsadm rules or a keepalived.conf.
  if (v.rules !== undefined && v.keepalived !== undefined) throw new UsageError('--rules or --keepalived, not both');
  const method = LAB_METHODS.find((m) => m === v.method) ?? null;
  if (v.method !== undefined && method === null) throw new UsageError(`--method wants ${LAB_METHODS.join('|')}`);
  const tunType = LAB_TUN_TYPES.find((t) => t === v['tun-type']) ?? null;
  if (v['tun-type'] !== undefined && tunType === null)
    throw new UsageError(`--tun-type wants ${LAB_TUN_TYPES.join('|')}`);
  if (tunType !== null && method !== 'tun') throw new UsageError('--tun-type goes with --method tun');
  if (method !== null && v.ha === true) throw new UsageError('--method is not for --ha (its directors use NAT)');
  const haOnly = ['nopreempt', 'vrrp-version', 'advert-int'] as const;
  if (v.ha !== true && haOnly.some((k) => v[k] !== undefined))
    throw new UsageError(`--${haOnly.join(', --')} go with --ha`);
  if (v.ha === true && (v.pcap === true || v.packet === true || v['no-director'] === true))
    throw new UsageError('--ha is for TAP directors');
  const vrrpVersion = v['vrrp-version'] === undefined ? 2 : Number(v['vrrp-version']);
  if (vrrpVersion !== 2 && vrrpVersion !== 3) throw new UsageError('--vrrp-version wants 2 or 3');
  const advertIntS = v['advert-int'] === undefined ? 1 : Number(v['advert-int']);
  if (!Number.isInteger(advertIntS) || advertIntS < 1 || advertIntS > 255)
    throw new UsageError('--advert-int wants 1..255 s');
  for (const k of ['priority', 'state', 'vrid', 'version'] as const)
    if (v[k] !== undefined) throw new UsageError(`--${k} is for peer up`);
  return {
    ha: v.ha === true ? { nopreempt: v.nopreempt === true, vrrpVersion, advertIntS } : null,
    command: 'up',
    director: v['no-director'] !== true,
    attach: v.pcap === true ? 'pcap' : v.packet === true ? 'packet' : 'tap',
    pcapMac: v['pcap-nic-mac'] === true ? 'nic' : 'own',
    addresses,
    rules: v.rules ?? null,
    keepalived: v.keepalived ?? null,
    socket: v.socket ?? null,
    tapvsdArgs: v['tapvsd-arg'] ?? [],
    readyTimeoutMs,
    method,
    tunType,
  };
}

function parsePeer(words: readonly string[], v: Record<string, unknown>): PeerCommand {
  const [action, ...rest] = words;
  if (rest.length > 0 || (action !== 'up' && action !== 'down'))
    throw new UsageError('usage: peer up --priority N | peer down');
  if (action === 'down') {
    if (Object.keys(v).length > 0) throw new UsageError('peer down takes no options');
    return { command: 'peer', action };
  }
  const num = (k: string, min: number, max: number, dflt: number | null): number => {
    const t = v[k];
    if (t === undefined && dflt !== null) return dflt;
    const n = Number(t);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`peer up: --${k} wants ${min}..${max}`);
    return n;
  };
  const state = v.state ?? 'BACKUP';
  if (state !== 'MASTER' && state !== 'BACKUP') throw new UsageError('peer up: --state MASTER|BACKUP');
  const version = num('version', 2, 3, 2) as 2 | 3;
  return {
    command: 'peer',
    action,
    priority: num('priority', 1, 255, null),
    state,
    vrid: num('vrid', 1, 255, 51),
    version,
  };
}
