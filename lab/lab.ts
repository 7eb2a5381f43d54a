#!/usr/bin/env node
/**
 * lab: build, inspect and remove the textbook LVS-NAT lab (the library is lab-lib.ts, the command
 * line lab-args.ts).
 *
 * ```
 *  tapvs-client (192.168.222.1/24)                         tapvs-rs1 (192.168.2.129/24, default via .136)
 *         | veth tvs-c0                                         | veth tvs-r1
 *    [tapvs-br-ext] ---- tap tapvs-ext ==( tapvsd )== tap tapvs-int ---- [tapvs-br-int] ---- veth tvs-r2 ---- tapvs-rs2
 *         \______ namespace tapvs-dir: both bridges and tapvsd's TAPs ______/                    (192.168.2.130/24,
 *                                                                                                  default via .136)
 *  VIP 192.168.222.131/24 (tapvsd, link "ext")        DIP 192.168.2.136/24 (tapvsd, link "int")
 *                                                     check address 192.168.2.137/24 (kernel of tapvs-dir, on tapvs-br-int)
 * ```
 *
 *   npm run lab -- up [--method nat|dr|tun|fullnat [--tun-type ipip|gue|gre]] [--rules FILE | --keepalived FILE]
 *                     [--no-director] [--pcap|--packet [--pcap-nic-mac]] [address options]
 *   npm run lab -- down
 *   npm run lab -- status
 *   npm run lab -- rs stop|start|fail|heal rs1|rs2;  rs link up|down rs1|rs2;  rs status [rs1|rs2]
 *
 * Exit status: 0 done, 1 failed (after `up`: the lab is torn down), 2 usage, 130 interrupted.
 */

import {
  DIRECTORS,
  directorKill,
  directorStart,
  directorStatus,
  directorStop,
  haUp,
  peerDown,
  peerState,
  peerUp,
} from './ha-lab.js';
import { type LabCommand, parseLabCommand, type RsCommand, type UpCommand, UsageError } from './lab-args.js';
import {
  LAB,
  LabError,
  type LabMethod,
  type LabTunType,
  labDown,
  labStatus,
  labUp,
  METHOD_LAB,
  rsFail,
  rsHeal,
  rsLink,
  rsStart,
  rsStatus,
  rsStop,
} from './lab-lib.js';

const USAGE = `usage: npm run lab -- <command> [options]

commands:
  up                    build the lab (tearing down an earlier one), start the real servers, start tapvsd
  down                  stop every lab process and delete the lab namespaces (idempotent)
  status                print what exists
  rs stop rs1|rs2       stop that real server's HTTP server and iperf3 -s (by the lab's pids)
  rs start rs1|rs2      start them again (whichever is not running; the HTTP server starts healthy)
  rs fail rs1|rs2       its HTTP server answers 503 on / and /health
  rs heal rs1|rs2       ... and 200 again
  rs link down|up rs1|rs2
                        its veth down (nothing reaches it: PING_CHECK fails) or up again
  rs status [rs1|rs2]   pids, link and the answer to GET /health, from inside its namespace
  director kill|stop|start 1|2
                        with up --ha: SIGKILL, SIGTERM (resigns with a priority-0 advert), or start
                        again with the same arguments
  peer up --priority N [--state MASTER|BACKUP] [--vrid 51] [--version 2|3]
                        a real keepalived (namespace tapvs-ka, 192.168.222.134 on the external
                        LAN) with one vrrp_instance holding the VIP: a VRRP peer for tapvsd
  peer down             stop it and remove its namespace (lab down does too)

up options:
  --method M          nat|dr|tun|fullnat: set the real servers up for that forwarding method and
                      (without --rules/--keepalived) load lab/textbook[-M].rules (lab/README.md):
                      dr/tun: VIP on the servers' lo, replies routed by ${LAB.ns.dir}'s kernel;
                      tun: a user-space tunnel endpoint per server; fullnat: no default route on
                      the servers, local addresses 192.168.2.140/.141, PROXY services :8080/:8082
  --tun-type T        with --method tun: ipip (default), gue (port 6080, no checksum) or gre
  --rules FILE        ipvsadm -S rules for tapvsd (default: no virtual service)
  --keepalived FILE   a keepalived.conf for tapvsd (tapvsd --keepalived FILE), instead of --rules;
                      lab/keepalived-lab.conf is the textbook one
  --no-director       do not start tapvsd
  --pcap              attach tapvsd with libpcap to veths tvs-px/tvs-pi in tapvs-dir (as on a
                      dual-NIC gateway VM) instead of TAPs
  --packet            the same veths through tapvsd's AF_PACKET socket (packet=), offloads left on
  --pcap-nic-mac      with --pcap or --packet: tapvsd uses the veths' own MACs (mac=nic), no promiscuous mode
  --socket PATH       tapvsd control socket            (env TAPVS_SOCKET,        default ${LAB.socket})
  --client A.B.C.D    client address                   (env TAPVS_LAB_CLIENT,    default 192.168.222.1)
  --vip A.B.C.D       virtual IP (tapvsd, link ext)    (env TAPVS_LAB_VIP,       default 192.168.222.131)
  --ext-prefix N      external prefix length           (env TAPVS_LAB_EXT_PREFIX, default 24)
  --dip A.B.C.D       director IP (tapvsd, link int)   (env TAPVS_LAB_DIP,       default 192.168.2.136)
  --rs1 A.B.C.D       real server 1                    (env TAPVS_LAB_RS1,       default 192.168.2.129)
  --rs2 A.B.C.D       real server 2                    (env TAPVS_LAB_RS2,       default 192.168.2.130)
  --int-prefix N      internal prefix length           (env TAPVS_LAB_INT_PREFIX, default 24)
  --check-addr A.B.C.D
                      the kernel of tapvs-dir's own address on the internal network, source of
                      tapvsd's health checks (env TAPVS_LAB_CHECK_ADDR, default 192.168.2.137)
  --tapvsd-arg ARG    extra tapvsd argument (repeatable)
  --ready-timeout MS  how long to wait for "tapvsd: ready" (default 15000)
  --ha                two directors (tapvs-dir, tapvs-dir2) on the same LANs, VRRP for the VIP and
                      the DIP, connection sync over the internal LAN (docs/two-directors.md);
                      rules: --rules FILE (default lab/textbook.rules) or --keepalived FILE
  --nopreempt         with --ha: director 1 does not take mastership back
  --vrrp-version 2|3  with --ha (default 2)
  --advert-int S      with --ha (default 1)
`;

async function up(c: UpCommand): Promise<number> {
  if (c.ha !== null) {
    await haUp({
      log: (line) => process.stdout.write(`${line}\n`),
      addresses: c.addresses,
      nopreempt: c.ha.nopreempt,
      vrrpVersion: c.ha.vrrpVersion,
      advertIntS: c.ha.advertIntS,
      ...(c.rules !== null ? { rules: c.rules } : {}),
      ...(c.keepalived !== null ? { keepalived: c.keepalived } : {}),
    });
    process.stdout.write(
      `two directors: 1 in ${LAB.ns.dir} (socket ${DIRECTORS[1].socket}), 2 in tapvs-dir2 (socket ${DIRECTORS[2].socket})\n`,
    );
    return 0;
  }
  const ac = new AbortController();
  const onSigint = (): void => {
    process.stderr.write('lab: interrupted, tearing down\n');
    ac.abort();
  };
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  try {
    const info = await labUp({
      director: c.director,
      attach: c.attach,
      pcapMac: c.pcapMac,
      addresses: c.addresses,
      tapvsdArgs: c.tapvsdArgs,
      readyTimeoutMs: c.readyTimeoutMs,
      ...(c.method !== null ? { method: c.method } : {}),
      ...(c.tunType !== null ? { tunType: c.tunType } : {}),
      signal: ac.signal,
      log: (line) => process.stdout.write(`${line}\n`),
      ...(c.rules !== null ? { rules: c.rules } : {}),
      ...(c.keepalived !== null ? { keepalived: c.keepalived } : {}),
      ...(c.socket !== null ? { socket: c.socket } : {}),
    });
    const a = info.addresses;
    process.stdout.write(
      `client ${a.client}/${a.extPrefixLen} (${LAB.ns.client})  VIP ${a.vip}  DIP ${a.dip}\n` +
        `rs1 ${a.rs1}/${a.intPrefixLen} (${LAB.ns.rs1})  rs2 ${a.rs2}/${a.intPrefixLen} (${LAB.ns.rs2})\n` +
        `check address ${a.check}/${a.intPrefixLen} on ${info.checkDevice} (${LAB.ns.dir}'s kernel: health checks)\n` +
        `method ${methodLine(info.method, info.tunType)}${info.rules !== null ? `, rules ${info.rules}` : ''}\n` +
        (info.director
          ? `tapvsd pid ${info.pids.tapvsd ?? '?'}, socket ${info.socket}, log ${LAB.log}\n`
          : `tapvsd not started (--no-director); it would run:\n  ip netns exec ${LAB.ns.dir} ${info.tapvsdCommand.join(' ')}\n`),
    );
    return 0;
  } catch (e) {
    if (ac.signal.aborted) return 130;
    process.stderr.write(`lab up failed: ${e instanceof LabError ? e.message : String((e as Error).stack ?? e)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

/** One line saying what the real servers are set up for. */
function methodLine(method: LabMethod, tunType: LabTunType | null): string {
  switch (method) {
    case 'nat':
      return 'nat (real servers: default route via the DIP)';
    case 'dr':
      return `dr (real servers: VIP on lo, default route via ${LAB.ns.dir}'s kernel, ${METHOD_LAB.routerExt} outside)`;
    case 'tun':
      return `tun ${tunType ?? 'ipip'} (real servers: VIP on lo, tunnel endpoint on ${METHOD_LAB.tunDevice}, default route via ${LAB.ns.dir}'s kernel)`;
    case 'fullnat':
      return `fullnat (real servers: no default route; local addresses ${METHOD_LAB.laddrs.join(', ')})`;
  }
}

async function rs(c: RsCommand): Promise<number> {
  switch (c.action) {
    case 'stop': {
      const r = await rsStop(c.server);
      process.stdout.write(
        `lab: ${c.server} ${r.stopped.length > 0 ? `stopped (pid ${r.stopped.join(', ')})` : 'was not running'}\n`,
      );
      return 0;
    }
    case 'start': {
      const started = Object.entries((await rsStart(c.server)).started);
      process.stdout.write(
        `lab: ${c.server} ${started.length > 0 ? `started ${started.map(([n, p]) => `${n} pid ${p}`).join(', ')}` : 'was running'}\n`,
      );
      return 0;
    }
    case 'fail':
      await rsFail(c.server);
      process.stdout.write(`lab: ${c.server} failing (/ and /health answer 503)\n`);
      return 0;
    case 'heal':
      await rsHeal(c.server);
      process.stdout.write(`lab: ${c.server} healthy\n`);
      return 0;
    case 'link':
      await rsLink(c.server, c.state);
      process.stdout.write(`lab: ${c.server} link ${c.state}\n`);
      return 0;
    case 'status': {
      const out: string[] = [];
      for (const s of await rsStatus()) {
        if (c.server !== null && s.server !== c.server) continue;
        out.push(`${s.server} ${s.addr} (${s.ns}): link ${s.link}, GET /health ${s.health ?? 'no answer'}`);
        for (const p of s.processes)
          out.push(
            `  ${p.name.padEnd(11)} ${p.pid === null ? 'stopped' : `pid ${String(p.pid).padEnd(8)} ${p.running ? 'running' : 'gone'}`}`,
          );
      }
      process.stdout.write(`${out.join('\n')}\n`);
      return 0;
    }
  }
}

async function main(): Promise<number> {
  let c: LabCommand;
  try {
    c = parseLabCommand(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`lab: ${e.message}\n${USAGE}`);
    return 2;
  }
  switch (c.command) {
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'up':
      return up(c);
    case 'rs':
      return rs(c);
    case 'director': {
      const pid =
        c.action === 'kill'
          ? await directorKill(c.director)
          : c.action === 'stop'
            ? await directorStop(c.director)
            : await directorStart(c.director);
      process.stdout.write(
        `lab: director ${c.director} ${c.action === 'start' ? 'started' : c.action === 'stop' ? 'stopped' : 'killed'} (pid ${pid})\n`,
      );
      return 0;
    }
    case 'peer':
      if (c.action === 'down') await peerDown();
      else {
        const pid = await peerUp(c);
        process.stdout.write(
          `lab: keepalived peer pid ${pid} (priority ${c.priority}, vrid ${c.vrid}, VRRPv${c.version})\n`,
        );
      }
      return 0;
    case 'down': {
      // A teardown cut in half leaves more to clean than it found: finish it (it is bounded).
      const note = (): void => {
        process.stderr.write('lab: finishing teardown first\n');
      };
      process.on('SIGINT', note);
      process.on('SIGTERM', note);
      const r = await labDown();
      process.stdout.write(
        `lab: down (stopped ${r.stopped.length} process(es), deleted ${r.namespaces.length} namespace(s))\n`,
      );
      return 0;
    }
    case 'status': {
      const s = await labStatus();
      const out: string[] = [];
      out.push(`state: ${s.state ?? 'no lab recorded'}`);
      if (s.method !== null) out.push(`method: ${methodLine(s.method, s.tunType)}`);
      out.push(`namespaces: ${s.namespaces.length > 0 ? s.namespaces.join(' ') : '(none)'}`);
      if (s.addresses !== null) {
        const a = s.addresses;
        out.push(
          `addresses: client ${a.client}/${a.extPrefixLen} vip ${a.vip} dip ${a.dip} rs1 ${a.rs1} rs2 ${a.rs2}` +
            ` check ${a.check ?? '-'} (/${a.intPrefixLen})`,
        );
      }
      for (const [ns, text] of Object.entries(s.links)) {
        out.push(`[${ns}]`);
        for (const line of text.split('\n')) out.push(`  ${line}`);
      }
      out.push('processes:');
      if (s.processes.length === 0) out.push('  (none recorded)');
      for (const p of s.processes)
        out.push(`  ${p.name.padEnd(11)} pid ${String(p.pid).padEnd(8)} ${p.alive ? 'running' : 'gone'}`);
      out.push(`socket ${s.socket}: ${s.socketAccepts ? 'accepting' : 'not accepting'}`);
      for (const p of s.tapProblems) out.push(`problem: ${p}`);
      for (const n of [1, 2] as const) {
        const d = await directorStatus(n).catch(() => null);
        if (d === null || (n === 2 && d.pid < 0 && d.vrrp.length === 0 && !s.namespaces.includes('tapvs-dir2')))
          continue;
        if (d.vrrp.length === 0) {
          if (d.pid > 0 || n === 2)
            out.push(`director ${n}: ${d.pid > 0 ? `running (pid ${d.pid}), no VRRP` : 'not running'}`);
          continue;
        }
        const states = [...new Set(d.vrrp.map((v) => v.state))];
        out.push(`director ${n}: ${states.join('/')} (${d.vrrp.map((v) => v.name).join(', ')}), pid ${d.pid}`);
      }
      const ka = peerState();
      if (ka !== null) out.push(`keepalived peer: ${ka}`);
      process.stdout.write(`${out.join('\n')}\n`);
      return 0;
    }
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`lab: ${e instanceof LabError ? e.message : String((e as Error).stack ?? e)}\n`);
    process.exitCode = 1;
  },
);
