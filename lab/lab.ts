/**
 * lab: build, inspect and remove the textbook LVS-NAT lab (the library is lab-lib.ts).
 *
 * ```
 *  tapvs-client (192.168.222.1/24)                         tapvs-rs1 (192.168.2.129/24, default via .136)
 *         | veth tvs-c0                                         | veth tvs-r1
 *    [tapvs-br-ext] ---- tap tapvs-ext ==( tapvsd )== tap tapvs-int ---- [tapvs-br-int] ---- veth tvs-r2 ---- tapvs-rs2
 *         \______ namespace tapvs-dir: both bridges and tapvsd's TAPs, NO IP addresses ______/   (192.168.2.130/24,
 *                                                                                                  default via .136)
 *  VIP 192.168.222.131/24 (tapvsd, link "ext")        DIP 192.168.2.136/24 (tapvsd, link "int")
 * ```
 *
 *   npm run lab -- up [--rules FILE] [--no-director] [--pcap [--pcap-nic-mac]] [address options]
 *   npm run lab -- down
 *   npm run lab -- status
 *
 * Exit status: 0 done, 1 failed (the lab is torn down), 2 usage, 130 interrupted.
 */
import { parseArgs } from 'node:util';
import { LAB, type LabAddresses, LabError, labDown, labStatus, labUp } from './lab-lib.js';

const USAGE = `usage: npm run lab -- <command> [options]

commands:
  up       build the lab (tearing down an earlier one), start the real servers, start tapvsd
  down     stop every lab process and delete the lab namespaces (idempotent)
  status   print what exists

up options:
  --rules FILE        ipvsadm -S rules for tapvsd (default: no virtual service)
  --no-director       do not start tapvsd
  --pcap              attach tapvsd with libpcap to veths tvs-px/tvs-pi in tapvs-dir (as on a
                      dual-NIC gateway VM) instead of TAPs
  --pcap-nic-mac      with --pcap: tapvsd uses the veths' own MACs (mac=nic), no promiscuous mode
  --socket PATH       tapvsd control socket            (env TAPVS_SOCKET,        default ${LAB.socket})
  --client A.B.C.D    client address                   (env TAPVS_LAB_CLIENT,    default 192.168.222.1)
  --vip A.B.C.D       virtual IP (tapvsd, link ext)    (env TAPVS_LAB_VIP,       default 192.168.222.131)
  --ext-prefix N      external prefix length           (env TAPVS_LAB_EXT_PREFIX, default 24)
  --dip A.B.C.D       director IP (tapvsd, link int)   (env TAPVS_LAB_DIP,       default 192.168.2.136)
  --rs1 A.B.C.D       real server 1                    (env TAPVS_LAB_RS1,       default 192.168.2.129)
  --rs2 A.B.C.D       real server 2                    (env TAPVS_LAB_RS2,       default 192.168.2.130)
  --int-prefix N      internal prefix length           (env TAPVS_LAB_INT_PREFIX, default 24)
  --tapvsd-arg ARG    extra tapvsd argument (repeatable)
  --ready-timeout MS  how long to wait for "tapvsd: ready" (default 15000)
`;

function usage(msg: string): never {
  process.stderr.write(`lab: ${msg}\n${USAGE}`);
  process.exit(2);
}

/** The command line, or the usage message and exit status 2. */
function parseCommandLine() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        rules: { type: 'string' },
        'no-director': { type: 'boolean' },
        pcap: { type: 'boolean' },
        'pcap-nic-mac': { type: 'boolean' },
        socket: { type: 'string' },
        client: { type: 'string' },
        vip: { type: 'string' },
        'ext-prefix': { type: 'string' },
        dip: { type: 'string' },
        rs1: { type: 'string' },
        rs2: { type: 'string' },
        'int-prefix': { type: 'string' },
        'tapvsd-arg': { type: 'string', multiple: true },
        'ready-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    return usage((e as Error).message);
  }
}

async function main(): Promise<number> {
  const { values: v, positionals } = parseCommandLine();
  if (v.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) usage('expected exactly one command');
  const command = positionals[0];
  if (command !== 'up' && Object.keys(v).length > 0) usage(`${command} takes no options`);

  switch (command) {
    case 'up': {
      const addresses: Partial<Record<keyof LabAddresses, string | number>> = {};
      if (v.client !== undefined) addresses.client = v.client;
      if (v.vip !== undefined) addresses.vip = v.vip;
      if (v.dip !== undefined) addresses.dip = v.dip;
      if (v.rs1 !== undefined) addresses.rs1 = v.rs1;
      if (v.rs2 !== undefined) addresses.rs2 = v.rs2;
      if (v['ext-prefix'] !== undefined) addresses.extPrefixLen = Number(v['ext-prefix']);
      if (v['int-prefix'] !== undefined) addresses.intPrefixLen = Number(v['int-prefix']);
      const readyTimeoutMs = v['ready-timeout'] !== undefined ? Number(v['ready-timeout']) : 15_000;
      if (!Number.isInteger(readyTimeoutMs) || readyTimeoutMs <= 0) usage('--ready-timeout wants milliseconds');
      if (v['pcap-nic-mac'] === true && v.pcap !== true) usage('--pcap-nic-mac goes with --pcap');
      const ac = new AbortController();
      const onSigint = (): void => {
        process.stderr.write('lab: interrupted, tearing down\n');
        ac.abort();
      };
      process.once('SIGINT', onSigint);
      process.once('SIGTERM', onSigint);
      try {
        const info = await labUp({
          director: v['no-director'] !== true,
          attach: v.pcap === true ? 'pcap' : 'tap',
          pcapMac: v['pcap-nic-mac'] === true ? 'nic' : 'own',
          addresses: addresses as Partial<LabAddresses>,
          tapvsdArgs: v['tapvsd-arg'] ?? [],
          readyTimeoutMs,
          signal: ac.signal,
          log: (line) => process.stdout.write(`${line}\n`),
          ...(v.rules !== undefined ? { rules: v.rules } : {}),
          ...(v.socket !== undefined ? { socket: v.socket } : {}),
        });
        const a = info.addresses;
        process.stdout.write(
          `client ${a.client}/${a.extPrefixLen} (${LAB.ns.client})  VIP ${a.vip}  DIP ${a.dip}\n` +
            `rs1 ${a.rs1}/${a.intPrefixLen} (${LAB.ns.rs1})  rs2 ${a.rs2}/${a.intPrefixLen} (${LAB.ns.rs2})\n` +
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
      out.push(`namespaces: ${s.namespaces.length > 0 ? s.namespaces.join(' ') : '(none)'}`);
      if (s.addresses !== null) {
        const a = s.addresses;
        out.push(
          `addresses: client ${a.client}/${a.extPrefixLen} vip ${a.vip} dip ${a.dip} rs1 ${a.rs1} rs2 ${a.rs2} (/${a.intPrefixLen})`,
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
      process.stdout.write(`${out.join('\n')}\n`);
      return 0;
    }
    default:
      return usage(`unknown command ${JSON.stringify(command)}`);
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
