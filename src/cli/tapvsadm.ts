#!/usr/bin/env node
/**
 * tapvsadm: ipvsadm for tapvsd. Same command line, same listings, same messages and exit
 * statuses, sent to the daemon over its control socket instead of to the kernel.
 *
 * parse (control/ipvsadm-args.ts) → request (control/client.ts) → format (control/format.ts).
 * Daemon errors are turned into ipvsadm's words by one table keyed by (operation, code), the
 * way libipvs's ipvs_strerror keys them by (function, errno); anything the table does not know
 * prints the daemon's own message.
 *
 * Where tapvsadm differs from ipvsadm, deliberately:
 * - -h, -v and command-line errors do not need a running daemon (ipvsadm needs the kernel module
 *   even to print its help);
 * - -R is all or nothing: one atomic `apply`; a bad line or a failing command changes nothing
 *   and is reported as `line N: <ipvsadm's message>`. Full-line '#' comments are allowed;
 * - the unreachable-daemon message names tapvsd: "Can't initialize ipvs: <reason>" then
 *   "Are you sure that tapvsd is running?" (exit 2).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ControlClient,
  DaemonError,
  DaemonUnreachableError,
  type RequestOptions,
  socketPath,
} from '../control/client.js';
import {
  formatConnRows,
  formatConnsHeader,
  formatDaemons,
  formatLaddrs,
  formatList,
  formatSave,
  formatSingleService,
  formatTimeouts,
} from '../control/format.js';
import { PROG_NAME, parseArgs } from '../control/ipvsadm-args.js';
import type { NameDb } from '../control/names.js';
import type { Command, ConnInfo, LaddrListResult, ListResult, Op, Timeouts } from '../control/protocol.js';
import { parseRulesDetailed, type RuleLine } from '../control/rules-file.js';
import type { SyncDaemonInfo } from '../control/sync-daemon-control.js';
import type { ErrorCode } from '../errors.js';
import { isTapvsError } from '../errors.js';

/** ipvsadm's exit status after a failed kernel operation (it returns -1). */
const EXIT_OPERATION_FAILED = 255;
/** ipvsadm's exit status when a listing cannot be read. */
const EXIT_LIST_FAILED = 1;
/** ipvsadm's exit status for its own validation errors and a failed start-up. */
const EXIT_USAGE = 2;

// ------------------------------------------------------------------ error mapping

const SCHED_NOT_FOUND = 'Scheduler or persistence engine not found';

/** (operation, code) → ipvsadm's message, as libipvs's ipvs_strerror table. */
const BY_OP: ReadonlyMap<string, string> = new Map([
  ['addService:SERVICE_EXISTS', 'Service already exists'],
  ['addService:SCHED_NOT_FOUND', SCHED_NOT_FOUND],
  ['editService:SERVICE_NOT_FOUND', 'No such service'],
  ['editService:SCHED_NOT_FOUND', SCHED_NOT_FOUND],
  ['deleteService:SERVICE_NOT_FOUND', 'No such service'],
  ['zero:SERVICE_NOT_FOUND', 'No such service'],
  ['addDest:SERVICE_NOT_FOUND', 'Service not defined'],
  ['addDest:DEST_EXISTS', 'Destination already exists'],
  ['editDest:SERVICE_NOT_FOUND', 'Service not defined'],
  ['editDest:DEST_NOT_FOUND', 'No such destination'],
  ['deleteDest:SERVICE_NOT_FOUND', 'Service not defined'],
  ['deleteDest:DEST_NOT_FOUND', 'No such destination'],
  ['list:SERVICE_NOT_FOUND', 'No such service'],
  ['startDaemon:DAEMON_EXISTS', 'Daemon has already run'],
  ['stopDaemon:DAEMON_NOT_RUNNING', 'No daemon is running'],
  ['startDaemon:NO_DEVICE', 'No such device'],
  ['addLaddr:SERVICE_NOT_FOUND', 'Service not defined'],
  ['deleteLaddr:SERVICE_NOT_FOUND', 'Service not defined'],
  ['listLaddrs:SERVICE_NOT_FOUND', 'No such service'],
]);

/** Codes with one meaning whatever the operation (libipvs's "any function" rows, strerror). */
const BY_CODE: ReadonlyMap<ErrorCode, string> = new Map<ErrorCode, string>([
  ['OUT_OF_RANGE', 'Numerical result out of range'],
  ['SCHED_NOT_FOUND', SCHED_NOT_FOUND],
  ['SERVICE_EXISTS', 'Service already exists'],
  ['DEST_EXISTS', 'Destination already exists'],
  ['DEST_NOT_FOUND', 'No such destination'],
  ['SERVICE_NOT_FOUND', 'No such service'],
]);

const READ_OPS: ReadonlySet<Op> = new Set<Op>([
  'list',
  'listConns',
  'getTimeouts',
  'status',
  'listDaemon',
  'listLaddrs',
]);

/**
 * What tapvsadm prints (stderr) and its exit status when tapvsd refuses `op` with `code`.
 * Listings fail with 1, changes with 255, as in ipvsadm. Unknown pairs print the daemon's message.
 */
export function mapDaemonError(op: Op, code: ErrorCode, daemonMessage: string): { message: string; exitCode: number } {
  const exitCode = READ_OPS.has(op) ? EXIT_LIST_FAILED : EXIT_OPERATION_FAILED;
  const message = BY_OP.get(`${op}:${code}`) ?? BY_CODE.get(code) ?? daemonMessage.replace(/^command \d+: /, '');
  return { message, exitCode };
}

/** ipvsadm's start-up failure, naming tapvsd. */
function unreachableMessage(e: DaemonUnreachableError): string {
  if (e.errno === 'EACCES' || e.errno === 'EPERM') {
    return (
      `Can't initialize ipvs: Permission denied (you must be root)\n` +
      `Is ${e.path} tapvsd's control socket (TAPVS_SOCKET)?`
    );
  }
  return `Can't initialize ipvs: ${e.reason}\nAre you sure that tapvsd is running?`;
}

// ------------------------------------------------------------------ running a command line

/** The client as tapvsadm uses it (ControlClient, or a stand-in in tests). */
export interface Client {
  request(req: Command, opts?: RequestOptions): Promise<unknown>;
  close(): void;
}

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readStdin(): Promise<string>;
  connect(): Promise<Client>;
  names?: NameDb;
}

/** Runs one tapvsadm command line; resolves with the exit status. Never rejects. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const parseOpts = io.names === undefined ? {} : { names: io.names };
  const parsed = parseArgs(argv, parseOpts);
  const names = io.names;
  const fail = (message: string, exitCode: number): number => {
    io.stderr(`${message}\n`);
    return exitCode;
  };

  let rules: RuleLine[] = [];
  switch (parsed.kind) {
    case 'help':
      io.stdout(parsed.text);
      return 0;
    case 'version':
      io.stdout(`${parsed.text}\n`);
      return 0;
    case 'error':
      return fail(parsed.message, parsed.exitCode);
    case 'restore': {
      const r = parseRulesDetailed(await io.readStdin(), parseOpts);
      if (!r.ok) return fail(`line ${r.line}: ${r.message}`, r.exitCode);
      rules = r.rules;
      break;
    }
    default:
      break;
  }

  let client: Client;
  try {
    client = await io.connect();
  } catch (e) {
    if (e instanceof DaemonUnreachableError) return fail(unreachableMessage(e), EXIT_USAGE);
    return fail(`Can't initialize ipvs: ${(e as Error).message}\nAre you sure that tapvsd is running?`, EXIT_USAGE);
  }

  const daemonFailure = (op: Op, e: unknown, prefix = ''): number => {
    if (isTapvsError(e)) {
      const m = mapDaemonError(op, e.code, e.message);
      return fail(prefix + m.message, m.exitCode);
    }
    return fail(
      prefix + String((e as Error)?.message ?? e),
      READ_OPS.has(op) ? EXIT_LIST_FAILED : EXIT_OPERATION_FAILED,
    );
  };

  try {
    switch (parsed.kind) {
      case 'request':
        try {
          await client.request(parsed.request);
        } catch (e) {
          return daemonFailure(parsed.request.op, e);
        }
        return 0;

      case 'restore': {
        const commands = rules.map((r) => r.request);
        try {
          await client.request({ op: 'apply', commands });
        } catch (e) {
          const n = e instanceof DaemonError ? e.command : null;
          const rule = n !== null ? rules[n - 1] : undefined;
          if (rule !== undefined) return daemonFailure(rule.request.op, e, `line ${rule.line}: `);
          return daemonFailure('apply', e);
        }
        return 0;
      }

      case 'save': {
        let result: ListResult;
        try {
          result = (await client.request(parsed.request)) as ListResult;
        } catch (e) {
          return daemonFailure('list', e);
        }
        io.stdout(formatSave(result, parsed.options, names));
        return 0;
      }

      case 'list': {
        const { request, options, service } = parsed;
        let result: unknown;
        // -L -c comes in parts (a table of millions): each is printed as it arrives.
        let headed = false;
        const onPart = (part: unknown[]): void => {
          if (!headed) io.stdout(formatConnsHeader(options));
          headed = true;
          io.stdout(formatConnRows(part as ConnInfo[], options, names));
        };
        try {
          result = await client.request(request, request.op === 'listConns' ? { onPart } : {});
        } catch (e) {
          return daemonFailure(request.op, e);
        }
        switch (request.op) {
          case 'listConns':
            if (!headed) io.stdout(formatConnsHeader(options));
            // A stand-in client (tests) answers at once, without parts.
            io.stdout(formatConnRows(result as ConnInfo[], options, names));
            return 0;
          case 'getTimeouts':
            io.stdout(formatTimeouts(result as Timeouts));
            return 0;
          case 'listDaemon':
            io.stdout(formatDaemons((result as { daemons: SyncDaemonInfo[] }).daemons));
            return 0;
          case 'listLaddrs':
            io.stdout(formatLaddrs(result as LaddrListResult));
            return 0;
          default: {
            const list = result as ListResult;
            if (service === null) {
              io.stdout(formatList(list, options, names));
              return 0;
            }
            const s =
              list.services.find(
                (x) =>
                  x.service.proto === service.proto &&
                  x.service.addr === service.addr &&
                  x.service.port === service.port,
              ) ?? (list.services.length === 1 ? list.services[0] : undefined);
            if (s === undefined) return fail('No such service', EXIT_LIST_FAILED);
            io.stdout(formatSingleService(s, options, names));
            return 0;
          }
        }
      }
      default:
        return 0;
    }
  } finally {
    client.close();
  }
}

function readAllStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c: string) => {
      text += c;
    });
    process.stdin.on('end', () => resolve(text));
    process.stdin.on('error', reject);
  });
}

/** The real process: stdout/stderr, stdin, the socket from $TAPVS_SOCKET. */
export function processIo(): CliIo {
  return {
    stdout: (t) => {
      process.stdout.write(t);
    },
    stderr: (t) => {
      process.stderr.write(t);
    },
    readStdin: readAllStdin,
    connect: () => ControlClient.connect(socketPath()),
  };
}

function invokedDirectly(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  run(process.argv.slice(2), processIo()).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${PROG_NAME}: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = EXIT_OPERATION_FAILED;
    },
  );
}
