/**
 * tapvsadm against the real control dispatcher and IPVS model, in process: the daemon's error
 * codes meet the (operation, code) table, and -S output restores through -R to the same rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CliIo, run } from '../../../src/cli/tapvsadm.js';
import { DaemonError } from '../../../src/control/client.js';
import { ControlDispatcher } from '../../../src/control/dispatch.js';
import type { Request } from '../../../src/control/protocol.js';
import { isTapvsError } from '../../../src/errors.js';
import { Ipvs } from '../../../src/ipvs/ipvs.js';
import { NAMES } from './fixtures.js';

function director() {
  const dispatcher = new ControlDispatcher(new Ipvs({ maxConns: 64 }));
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
