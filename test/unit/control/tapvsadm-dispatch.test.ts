/**
 * tapvsadm against the real control dispatcher and IPVS model, in process: the daemon's error
 * codes meet the (operation, code) table, -S output restores through -R to the same rules, and
 * the sync daemons start, list and stop with ipvsadm's words.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CliIo, run } from '../../../src/cli/tapvsadm.js';
import { DaemonError } from '../../../src/control/client.js';
import { ControlDispatcher } from '../../../src/control/dispatch.js';
import type { Request } from '../../../src/control/protocol.js';
import { isTapvsError } from '../../../src/errors.js';
import { Ipvs } from '../../../src/ipvs/ipvs.js';
import { SyncDaemons } from '../../../src/sync/sync-daemons.js';
import { VirtualClock } from '../../helpers/virtual-clock.js';
import { NAMES } from './fixtures.js';

/** `sync`: the real sync daemons on links `int` (MTU 9000) and `ext`, sending nowhere. */
function director(sync = false) {
  const ipvs = new Ipvs({ maxConns: 64 });
  const links = [
    { name: 'int', mtu: 9000 },
    { name: 'ext', mtu: 1500 },
  ];
  const syncDaemons = new SyncDaemons(ipvs, links, () => ({ send: () => {} }), new VirtualClock());
  const dispatcher = new ControlDispatcher(ipvs, sync ? { syncDaemons } : {});
  let stdin = '';
  const io: CliIo = {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    readStdin: async () => stdin,
    connect: async () => ({
      request: async (req) => {
        try {
          // Through JSON, as over the socket.
          return JSON.parse(
            JSON.stringify(dispatcher.handle(JSON.parse(JSON.stringify({ ...req, id: 1 })) as Request)) ?? 'null',
          );
        } catch (e) {
          if (isTapvsError(e)) throw new DaemonError(e.code, e.message);
          throw e;
        }
      },
      close: () => {},
    }),
    names: NAMES,
  };
  let out = '';
  let err = '';
  return {
    async adm(line: string, input = ''): Promise<[number, string, string]> {
      out = '';
      err = '';
      stdin = input;
      const code = await run(line === '' ? [] : line.split(' '), io);
      return [code, out, err];
    },
  };
}

const V = '192.168.222.131';

test("tapvsadm+dispatcher: ipvsadm's messages for duplicates, missing objects and ranges", async () => {
  const d = director();
  assert.deepEqual(await d.adm(`-A -t ${V}:80 -s rr`), [0, '', '']);
  assert.deepEqual(await d.adm(`-A -t ${V}:80 -s rr`), [255, '', 'Service already exists\n']);
  assert.deepEqual(await d.adm(`-A -t ${V}:81 -s nosuch`), [255, '', 'Scheduler or persistence engine not found\n']);
  assert.deepEqual(await d.adm(`-a -t ${V}:80 -r 10.0.0.2 -m`), [0, '', '']);
  assert.deepEqual(await d.adm(`-a -t ${V}:80 -r 10.0.0.2 -m`), [255, '', 'Destination already exists\n']);
  assert.deepEqual(await d.adm(`-a -t ${V}:80 -r 10.0.0.3 -m -y 5`), [255, '', 'Numerical result out of range\n']);
  assert.deepEqual(await d.adm(`-e -t ${V}:80 -r 10.0.0.9 -m`), [255, '', 'No such destination\n']);
  assert.deepEqual(await d.adm(`-d -t ${V}:80 -r 10.0.0.9`), [255, '', 'No such destination\n']);
  assert.deepEqual(await d.adm(`-a -t ${V}:90 -r 10.0.0.2 -m`), [255, '', 'Service not defined\n']);
  assert.deepEqual(await d.adm(`-D -t ${V}:90`), [255, '', 'No such service\n']);
  assert.deepEqual(await d.adm(`-E -t ${V}:90`), [255, '', 'No such service\n']);
  assert.deepEqual(await d.adm(`-Z -t ${V}:90`), [255, '', 'No such service\n']);
  assert.deepEqual(await d.adm(`-L -n -t ${V}:90`), [1, '', 'No such service\n']);
  assert.deepEqual(await d.adm(`-a -t ${V}:80 -r 0.0.0.0 -m`), [
    255,
    '',
    'Invalid operation.  Possibly wrong module version, address not unicast, ...\n',
  ]);
});

test('tapvsadm+dispatcher: -E replaces every setting (no -s means wlc again)', async () => {
  const d = director();
  await d.adm(`-A -t ${V}:80 -s rr`);
  await d.adm(`-a -t ${V}:80 -r 10.0.0.2 -m -w 3`);
  assert.deepEqual(await d.adm(`-E -t ${V}:80 -p 600`), [0, '', '']);
  const [code, out] = await d.adm('-L -n');
  assert.equal(code, 0);
  assert.equal(
    out,
    'IP Virtual Server version 1.2.1 (size=' +
      out.split('size=')[1].split(')')[0] +
      ')\n' +
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
      `TCP  ${V}:80 wlc persistent 600\n` +
      '  -> 10.0.0.2:80                  Masq    3      0          0         \n',
  );
});

test('tapvsadm+dispatcher: -S output restored with -R after -C gives the same -S', async () => {
  const d = director();
  for (const l of [
    `-A -t ${V}:80 -s rr`,
    `-a -t ${V}:80 -r 10.0.0.2 -m -w 1`,
    `-a -t ${V}:80 -r 10.0.0.3:8080 -m -w 0`,
    `-A -t ${V}:443 -s wlc -p 360 -M 255.255.255.0`,
    `-A -u ${V}:53 -s rr -o`,
    `-A -t ${V}:0 -s sh -p 300 -b sh-fallback,sh-port`,
    `-a -t ${V}:0 -r 10.0.0.4 -m -w 7`,
  ]) {
    assert.deepEqual(await d.adm(l), [0, '', ''], l);
  }
  const [, saved] = await d.adm('-S -n');
  assert.equal(
    saved,
    [
      `-A -t ${V}:0 -s sh -p 300 -b sh-fallback,sh-port`,
      `-a -t ${V}:0 -r 10.0.0.4:0 -m -w 7`,
      `-A -t ${V}:80 -s rr`,
      `-a -t ${V}:80 -r 10.0.0.2:80 -m -w 1`,
      `-a -t ${V}:80 -r 10.0.0.3:8080 -m -w 0`,
      `-A -t ${V}:443 -s wlc -p 360 -M 255.255.255.0`,
      `-A -u ${V}:53 -s rr -o`,
      '',
    ].join('\n'),
  );
  assert.deepEqual(await d.adm('-C'), [0, '', '']);
  assert.deepEqual(await d.adm('-S -n'), [0, '', '']);
  assert.deepEqual(await d.adm('-R', saved), [0, '', '']);
  assert.deepEqual(await d.adm('-S -n'), [0, saved, '']);
  // Names work too: -S without -n restores through /etc/hosts and /etc/services.
  const [, named] = await d.adm('-S');
  assert.match(named, /^-A -t lvs1:http -s rr$/m);
  await d.adm('-C');
  assert.deepEqual(await d.adm('-R', named), [0, '', '']);
  assert.deepEqual(await d.adm('-S -n'), [0, saved, '']);
});

test('tapvsadm+dispatcher: a failing -R changes nothing and names the line', async () => {
  const d = director();
  await d.adm(`-A -t ${V}:80 -s rr`);
  const [, before] = await d.adm('-S -n');
  assert.deepEqual(await d.adm('-R', `-A -t ${V}:81 -s rr\n\n-A -t ${V}:80 -s wlc\n`), [
    255,
    '',
    'line 3: Service already exists\n',
  ]);
  assert.deepEqual(await d.adm('-S -n'), [0, before, '']);
  assert.deepEqual(await d.adm('--set 60 30 20'), [0, '', '']);
  assert.deepEqual(await d.adm('-L --timeout'), [0, 'Timeout (tcp tcpfin udp): 60 30 20\n', '']);
});

test("tapvsadm+dispatcher: sync daemons start, list and stop with ipvsadm's output and errors", async () => {
  const d = director(true);
  assert.deepEqual(await d.adm('-L --daemon'), [0, '', '']);
  assert.deepEqual(await d.adm('--start-daemon master --mcast-interface int --syncid 5'), [0, '', '']);
  assert.deepEqual(await d.adm('--start-daemon master --mcast-interface int'), [255, '', 'Daemon has already run\n']);
  assert.deepEqual(await d.adm('--start-daemon backup'), [255, '', 'No such device\n']); // eth0: no such link
  assert.deepEqual(await d.adm('--start-daemon backup --mcast-interface in:t'), [255, '', 'No such device\n']);
  assert.deepEqual(
    await d.adm('--start-daemon backup --mcast-interface int --mcast-group 239.1.2.3 --mcast-port 9000 --mcast-ttl 4'),
    [0, '', ''],
  );
  // The kernel's defaults filled in: a master's maxlen is 1500 - 28, a backup's the link MTU - 28.
  assert.deepEqual(await d.adm('-L --daemon -n'), [
    0,
    'master sync daemon (mcast=int, syncid=5, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n' +
      'backup sync daemon (mcast=int, syncid=0, maxlen=8972, group=239.1.2.3, port=9000, ttl=4)\n',
    '',
  ]);
  assert.deepEqual(await d.adm('--stop-daemon master'), [0, '', '']);
  assert.deepEqual(await d.adm('--stop-daemon master'), [255, '', 'No daemon is running\n']);
  assert.deepEqual(await d.adm('-L --daemon'), [
    0,
    'backup sync daemon (mcast=int, syncid=0, maxlen=8972, group=239.1.2.3, port=9000, ttl=4)\n',
    '',
  ]);
  assert.deepEqual(await d.adm('--stop-daemon backup --syncid 3'), [0, '', '']);
  assert.deepEqual(await d.adm('-L --daemon'), [0, '', '']);
  // Rules files carry rules only; the rules did not change.
  assert.deepEqual(await d.adm('-R', `-A -t ${V}:80 -s rr\n--start-daemon master --mcast-interface int\n`), [
    2,
    '',
    'line 2: --start-daemon does not belong in a rules file: run it as its own tapvsadm command\n',
  ]);
  assert.deepEqual(await d.adm('-S -n'), [0, '', '']);
});

test('tapvsadm+dispatcher: a tapvsd without connection sync says so (255 for changes, 1 for -L)', async () => {
  const d = director();
  const no = 'connection sync is not available here\n';
  assert.deepEqual(await d.adm('--start-daemon master'), [255, '', no]);
  assert.deepEqual(await d.adm('--stop-daemon backup'), [255, '', no]);
  assert.deepEqual(await d.adm('-L --daemon'), [1, '', no]);
});
