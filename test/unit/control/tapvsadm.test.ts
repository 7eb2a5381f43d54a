/**
 * tapvsadm end to end without a daemon: run() with a scripted client, the (operation, code) error
 * table, the -R path, and the built binary for what needs a real process (exit status, streams).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Client, type CliIo, mapDaemonError, run } from '../../../src/cli/tapvsadm.js';
import { ControlClient, DaemonError, DaemonUnreachableError } from '../../../src/control/client.js';
import type { Command } from '../../../src/control/protocol.js';
import type { ErrorCode } from '../../../src/errors.js';
import { fakeDaemon } from './fake-daemon.js';
import { dest, list, NAMES, svc } from './fixtures.js';

interface Outcome {
  code: number;
  out: string;
  err: string;
  sent: Command[];
  connected: boolean;
}

/** Runs tapvsadm with a client whose answers come from `answer` (throw to fail a request). */
async function tapvsadm(
  argv: string[],
  answer: (req: Command) => unknown = () => null,
  stdin = '',
  connectError: Error | null = null,
): Promise<Outcome> {
  const o: Outcome = { code: -1, out: '', err: '', sent: [], connected: false };
  const client: Client = {
    request: async (req) => {
      o.sent.push(req);
      return answer(req);
    },
    close: () => {},
  };
  const io: CliIo = {
    stdout: (t) => {
      o.out += t;
    },
    stderr: (t) => {
      o.err += t;
    },
    readStdin: async () => stdin,
    connect: async () => {
      if (connectError !== null) throw connectError;
      o.connected = true;
      return client;
    },
    names: NAMES,
  };
  o.code = await run(argv, io);
  return o;
}

const refuse = (code: ErrorCode, message: string) => () => {
  throw new DaemonError(code, message);
};
const V = '192.168.222.131';

test("tapvsadm: the error table maps (operation, code) to ipvsadm's words and exit status", () => {
  const cases: Array<[Parameters<typeof mapDaemonError>[0], ErrorCode, string, number]> = [
    ['addService', 'SERVICE_EXISTS', 'Service already exists', 255],
    ['addService', 'SCHED_NOT_FOUND', 'Scheduler or persistence engine not found', 255],
    ['editService', 'SCHED_NOT_FOUND', 'Scheduler or persistence engine not found', 255],
    ['editService', 'SERVICE_NOT_FOUND', 'No such service', 255],
    ['deleteService', 'SERVICE_NOT_FOUND', 'No such service', 255],
    ['zero', 'SERVICE_NOT_FOUND', 'No such service', 255],
    ['addDest', 'SERVICE_NOT_FOUND', 'Service not defined', 255],
    ['editDest', 'SERVICE_NOT_FOUND', 'Service not defined', 255],
    ['deleteDest', 'SERVICE_NOT_FOUND', 'Service not defined', 255],
    ['addDest', 'DEST_EXISTS', 'Destination already exists', 255],
    ['editDest', 'DEST_NOT_FOUND', 'No such destination', 255],
    ['deleteDest', 'DEST_NOT_FOUND', 'No such destination', 255],
    ['addDest', 'OUT_OF_RANGE', 'Numerical result out of range', 255],
    ['editDest', 'OUT_OF_RANGE', 'Numerical result out of range', 255],
    ['list', 'SERVICE_NOT_FOUND', 'No such service', 1],
    ['startDaemon', 'DAEMON_EXISTS', 'Daemon has already run', 255],
    ['startDaemon', 'NO_DEVICE', 'No such device', 255],
    ['stopDaemon', 'DAEMON_NOT_RUNNING', 'No daemon is running', 255],
    ['listDaemon', 'NOT_SUPPORTED', 'daemon words', 1],
    ['startDaemon', 'BAD_ARGUMENT', 'daemon words', 255],
  ];
  for (const [op, code, message, exitCode] of cases) {
    assert.deepEqual(mapDaemonError(op, code, 'daemon words'), { message, exitCode }, `${op} ${code}`);
  }
  // Fallback: the daemon's own message (without an apply's "command N:" prefix).
  assert.deepEqual(
    mapDaemonError(
      'addDest',
      'BAD_ARGUMENT',
      'Invalid operation.  Possibly wrong module version, address not unicast, ...',
    ),
    { message: 'Invalid operation.  Possibly wrong module version, address not unicast, ...', exitCode: 255 },
  );
  assert.deepEqual(mapDaemonError('setTimeouts', 'NOT_SUPPORTED', 'command 2: something tapvs lacks'), {
    message: 'something tapvs lacks',
    exitCode: 255,
  });
  assert.deepEqual(mapDaemonError('listConns', 'INTERNAL', 'boom'), { message: 'boom', exitCode: 1 });
});

test('tapvsadm: a change that succeeds prints nothing and exits 0', async () => {
  const o = await tapvsadm(['-A', '-t', `${V}:80`, '-s', 'rr']);
  assert.deepEqual([o.code, o.out, o.err], [0, '', '']);
  assert.equal(o.sent[0].op, 'addService');
});

test("tapvsadm: duplicate and missing objects give ipvsadm's messages", async () => {
  const cases: Array<[string[], ErrorCode, string, number]> = [
    [['-A', '-t', `${V}:80`], 'SERVICE_EXISTS', 'Service already exists', 255],
    [['-A', '-t', `${V}:80`, '-s', 'nosuch'], 'SCHED_NOT_FOUND', 'Scheduler or persistence engine not found', 255],
    [['-D', '-t', `${V}:80`], 'SERVICE_NOT_FOUND', 'No such service', 255],
    [['-E', '-t', `${V}:80`], 'SERVICE_NOT_FOUND', 'No such service', 255],
    [['-Z', '-t', `${V}:80`], 'SERVICE_NOT_FOUND', 'No such service', 255],
    [['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-m'], 'SERVICE_NOT_FOUND', 'Service not defined', 255],
    [['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-m'], 'DEST_EXISTS', 'Destination already exists', 255],
    [['-e', '-t', `${V}:80`, '-r', '10.0.0.2', '-m'], 'DEST_NOT_FOUND', 'No such destination', 255],
    [['-d', '-t', `${V}:80`, '-r', '10.0.0.2'], 'DEST_NOT_FOUND', 'No such destination', 255],
    [['-a', '-t', `${V}:80`, '-r', '10.0.0.2', '-m', '-y', '5'], 'OUT_OF_RANGE', 'Numerical result out of range', 255],
    [['-L', '-t', `${V}:80`], 'SERVICE_NOT_FOUND', 'No such service', 1],
  ];
  for (const [argv, code, message, exitCode] of cases) {
    const o = await tapvsadm(argv, refuse(code, 'daemon text'));
    assert.deepEqual([o.code, o.out, o.err], [exitCode, '', `${message}\n`], argv.join(' '));
  }
});

test("tapvsadm: -L -n, -L -t, --timeout, -c, --daemon and -S format the daemon's answers", async () => {
  const table = list([
    svc('tcp', V, 80, { scheduler: 'rr' }, [dest('10.0.0.2', 80, { activeConns: 3, inactConns: 12 })]),
  ]);
  let o = await tapvsadm(['-L', '-n'], () => table);
  assert.equal(o.code, 0);
  assert.deepEqual(o.sent, [{ op: 'list', service: null }]);
  assert.equal(
    o.out,
    'IP Virtual Server version 1.2.1 (size=4096)\n' +
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
      'TCP  192.168.222.131:80 rr\n' +
      '  -> 10.0.0.2:80                  Masq    1      3          12        \n',
  );

  o = await tapvsadm(['-L', '-n', '-t', `${V}:80`], () => table);
  assert.ok(o.out.startsWith('Prot LocalAddress:Port Scheduler Flags\n'));
  o = await tapvsadm(['-L', '-n', '-t', `${V}:81`], () => list([]));
  assert.deepEqual([o.code, o.out, o.err], [1, '', 'No such service\n']);

  o = await tapvsadm(['-L', '--timeout'], () => ({ tcpS: 900, tcpFinS: 120, udpS: 300 }));
  assert.equal(o.out, 'Timeout (tcp tcpfin udp): 900 120 300\n');
  o = await tapvsadm(['-Lnc'], () => []);
  assert.equal(
    o.out,
    'IPVS connection entries\npro expire state       source             virtual            destination\n',
  );
  o = await tapvsadm(['-L', '--daemon'], () => ({ daemons: [] }));
  assert.deepEqual([o.code, o.out, o.err, o.sent], [0, '', '', [{ op: 'listDaemon' }]]);
  const daemon = { mcastInterface: 'int', syncid: 51, maxlen: 1472, group: 0xe0000051 | 0, port: 8848, ttl: 1 };
  o = await tapvsadm(['-L', '--daemon'], () => ({
    daemons: [
      { role: 'master', ...daemon },
      { role: 'backup', ...daemon, maxlen: 0, group: 0, port: 0, ttl: 0 },
    ],
  }));
  assert.equal(
    o.out,
    'master sync daemon (mcast=int, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n' +
      'backup sync daemon (mcast=int, syncid=51)\n',
  );
  o = await tapvsadm(
    ['--start-daemon', 'backup', '--mcast-interface', 'int', '--syncid', '7', '--mcast-port', '9000'],
    () => null,
  );
  assert.deepEqual(o.sent, [
    {
      op: 'startDaemon',
      daemon: { role: 'backup', mcastInterface: 'int', syncid: 7, maxlen: 0, group: 0, port: 9000, ttl: 0 },
    },
  ]);
  o = await tapvsadm(['--start-daemon', 'master'], refuse('DAEMON_EXISTS', 'x'));
  assert.deepEqual([o.code, o.err], [255, 'Daemon has already run\n']);
  o = await tapvsadm(['--stop-daemon', 'master'], refuse('DAEMON_NOT_RUNNING', 'x'));
  assert.deepEqual([o.code, o.err], [255, 'No daemon is running\n']);
  o = await tapvsadm(['--start-daemon', 'master'], refuse('NO_DEVICE', 'x'));
  assert.deepEqual([o.code, o.err], [255, 'No such device\n']);
  o = await tapvsadm(['-S', '-n'], () => table);
  assert.equal(o.out, '-A -t 192.168.222.131:80 -s rr\n-a -t 192.168.222.131:80 -r 10.0.0.2:80 -m -w 1\n');
});

test('tapvsadm: no arguments lists like -L', async () => {
  const o = await tapvsadm([], () => list([]));
  assert.equal(o.code, 0);
  assert.ok(o.out.startsWith('IP Virtual Server version 1.2.1 (size=4096)\n'));
});

test('tapvsadm: -h, -v and command-line errors never contact the daemon', async () => {
  const unreachable = new DaemonUnreachableError('/x', 'ENOENT', 'No such file or directory');
  let o = await tapvsadm(['-h'], undefined, '', unreachable);
  assert.equal(o.code, 0);
  assert.ok(o.out.includes('Usage:\n  tapvsadm -A|E'));
  o = await tapvsadm(['-v'], undefined, '', unreachable);
  assert.deepEqual([o.code, o.connected], [0, false]);
  assert.match(o.out, /^tapvsadm v\S+ \(ipvsadm v1\.31 .*\)\n$/);
  o = await tapvsadm(['-nL'], undefined, '', unreachable);
  assert.deepEqual(
    [o.code, o.err, o.connected],
    [255, "Try `tapvsadm -h' or 'tapvsadm --help' for more information.\n", false],
  );
  o = await tapvsadm(['-A', '-t', `${V}:80`, '-m', '-g'], undefined, '', unreachable);
  assert.deepEqual([o.code, o.err], [2, "multiple 'forwarding-method' options specified\n"]);
  o = await tapvsadm(['-A', '-t', `${V}:80`, '-6']);
  assert.deepEqual([o.code, o.err], [2, '-6 used before -f\n\n']);
});

test("tapvsadm: an unreachable daemon is ipvsadm's init failure, naming tapvsd (exit 2)", async () => {
  let o = await tapvsadm(
    ['-L'],
    undefined,
    '',
    new DaemonUnreachableError('/run/tapvs/tapvsd.sock', 'ECONNREFUSED', 'Connection refused'),
  );
  assert.deepEqual(
    [o.code, o.out, o.err],
    [2, '', "Can't initialize ipvs: Connection refused\nAre you sure that tapvsd is running?\n"],
  );
  o = await tapvsadm(
    ['-C'],
    undefined,
    '',
    new DaemonUnreachableError('/run/tapvs/tapvsd.sock', 'EACCES', 'Permission denied'),
  );
  assert.equal(o.code, 2);
  assert.match(o.err, /^Can't initialize ipvs: Permission denied \(you must be root\)\n/);
});

test('tapvsadm: -R sends one atomic apply of every rule', async () => {
  const rules = '# restore\n-A -t 192.168.222.131:80 -s rr\n\n-a -t 192.168.222.131:80 -r 10.0.0.2 -m -w 2\n';
  const o = await tapvsadm(['-R'], () => ({ applied: 2 }), rules);
  assert.equal(o.code, 0);
  assert.equal(o.sent.length, 1);
  const sent = o.sent[0];
  assert.ok(sent.op === 'apply');
  assert.deepEqual(
    sent.commands.map((c) => c.op),
    ['addService', 'addDest'],
  );
});

test('tapvsadm: -R reports a bad line without contacting the daemon, and a refused command by line', async () => {
  let o = await tapvsadm(['-R'], undefined, '-C\n-a -t 1.2.3.4:80 -r 10.0.0.2 -m -w x\n');
  assert.deepEqual([o.code, o.err, o.connected], [2, 'line 2: illegal weight specified\n', false]);
  o = await tapvsadm(
    ['-R'],
    refuse('DEST_EXISTS', 'command 3: Destination already exists'),
    '-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r 10.0.0.2 -m\n\n-a -t 1.2.3.4:80 -r 10.0.0.2 -m\n',
  );
  assert.deepEqual([o.code, o.err], [255, 'line 4: Destination already exists\n']);
  o = await tapvsadm(
    ['-R'],
    refuse('SERVICE_NOT_FOUND', 'command 1: Service not defined'),
    '-a -t 1.2.3.4:80 -r 10.0.0.2 -m\n',
  );
  assert.deepEqual([o.code, o.err], [255, 'line 1: Service not defined\n']);
});

test('tapvsadm: through a real socket to a fake tapvsd', async (t) => {
  const d = await fakeDaemon((req, sock) => {
    const answer =
      req.op === 'addService'
        ? { id: req.id, ok: false, error: { code: 'SERVICE_EXISTS', message: 'Service already exists' } }
        : { id: req.id, ok: true, result: list([svc('udp', V, 53, { scheduler: 'wlc', persistentS: 360 })]) };
    sock.write(`${JSON.stringify(answer)}\n`);
  });
  t.after(() => d.close());
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: (s) => {
      out += s;
    },
    stderr: (s) => {
      err += s;
    },
    readStdin: async () => '',
    connect: () => ControlClient.connect(d.path),
    names: NAMES,
  };
  assert.equal(await run(['-A', '-t', `${V}:80`], io), 255);
  assert.equal(err, 'Service already exists\n');
  assert.equal(await run(['-Ln'], io), 0);
  assert.match(out, /^UDP {2}192\.168\.222\.131:53 wlc persistent 360$/m);
});

test('tapvsadm: the built binary prints, exits and fails like ipvsadm', () => {
  const bin = fileURLToPath(new URL('../../../src/cli/tapvsadm.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'tapvsadm-bin-'));
  try {
    const env = { ...process.env, TAPVS_SOCKET: join(dir, 'absent.sock') };
    let r = spawnSync(process.execPath, [bin, '-v'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^tapvsadm v/);
    r = spawnSync(process.execPath, [bin, '-Ln'], { env, encoding: 'utf8' });
    assert.deepEqual(
      [r.status, r.stdout, r.stderr],
      [2, '', "Can't initialize ipvs: No such file or directory\nAre you sure that tapvsd is running?\n"],
    );
    r = spawnSync(process.execPath, [bin, '-t', '1.2.3.4:80', '-A'], { env, encoding: 'utf8' });
    assert.deepEqual([r.status, r.stderr], [255, "Try `tapvsadm -h' or 'tapvsadm --help' for more information.\n"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
