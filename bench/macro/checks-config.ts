/**
 * The keepalived.conf of the `tapvsd-checks` variant: the benchmark's own services exactly as
 * the `tapvsd` variant's rules have them (rr on :80, sh on :5201, rr on UDP :9000), with no
 * checker on their real servers, so the measured traffic meets the same table; plus one extra
 * virtual server whose only purpose is load on the health-check engine: CHECKED_SERVERS real
 * servers, each with a TCP_CHECK every second against port 80 of RS1 or RS2.
 *
 * Every check is one TCP connection from tapvs-dir's check address (lab-lib's `check`) to a
 * real server's port 80, opened and closed at once (keepalived check_tcp.c): CHECKED_SERVERS
 * connections per second while every checker is up, which is the "1,000 real servers
 * checked every second". The extra service's real servers are the two lab hosts on ports
 * CHECKED_FIRST_PORT.. (nothing listens there; no traffic goes to VIP:CHECKS_VPORT), which is
 * what gives each its own checker.
 */
import { LAB } from '../../lab/lab-lib.js';
import { UDP_PORT } from './measure.js';

/** The extra virtual server's port on the VIP. */
export const CHECKS_VPORT = 8000;
/** Real servers of the extra virtual server: as many on RS1 as on RS2. */
export const CHECKED_SERVERS = 1000;
/** The first real-server port of the extra virtual server (per lab host). */
export const CHECKED_FIRST_PORT = 10000;
/** Each checker's delay_loop, seconds: one check per checker per second. */
export const CHECK_INTERVAL_S = 1;
/** Where every TCP_CHECK connects on its real server's host: the lab's HTTP server. */
const CHECK_PORT = LAB.httpPort;
const CONNECT_TIMEOUT_S = 3;

interface Service {
  readonly protocol: 'TCP' | 'UDP';
  readonly port: number;
  readonly scheduler: string;
  readonly servers: readonly string[];
}

/** The `tapvsd` variant's rules (variants.ts, tapvsdRules()), as virtual servers. */
function benchmarkServices(): Service[] {
  return [
    { protocol: 'TCP', port: LAB.httpPort, scheduler: 'rr', servers: [LAB.rs1, LAB.rs2] },
    // iperf3's control and data connections must meet the same server: source hashing.
    { protocol: 'TCP', port: LAB.iperfPort, scheduler: 'sh', servers: [LAB.rs1, LAB.rs2] },
    { protocol: 'UDP', port: UDP_PORT, scheduler: 'rr', servers: [LAB.rs1] },
  ];
}

function uncheckedService(s: Service): string[] {
  return [
    `virtual_server ${LAB.vip} ${s.port} {`,
    `    lb_algo ${s.scheduler}`,
    '    lb_kind NAT',
    `    protocol ${s.protocol}`,
    ...s.servers.map((rs) => `    real_server ${rs} ${s.port} { weight 1 }`),
    '}',
  ];
}

/** The extra virtual server's real servers: RS1 and RS2 alternately, ports from CHECKED_FIRST_PORT. */
export function checkedServers(): { addr: string; port: number }[] {
  const hosts = [LAB.rs1, LAB.rs2];
  return Array.from({ length: CHECKED_SERVERS }, (_, i) => ({
    addr: hosts[i % hosts.length],
    port: CHECKED_FIRST_PORT + Math.floor(i / hosts.length),
  }));
}

function checkedRealServer(rs: { addr: string; port: number }): string[] {
  return [
    `    real_server ${rs.addr} ${rs.port} {`,
    '        weight 1',
    '        TCP_CHECK {',
    `            connect_ip ${rs.addr}`,
    `            connect_port ${CHECK_PORT}`,
    `            connect_timeout ${CONNECT_TIMEOUT_S}`,
    '        }',
    '    }',
  ];
}

/** The extra virtual server's opening lines (everything but its real servers). */
function checkedServiceHead(): string[] {
  return [
    `virtual_server ${LAB.vip} ${CHECKS_VPORT} {`,
    `    delay_loop ${CHECK_INTERVAL_S}`,
    '    lb_algo rr',
    '    lb_kind NAT',
    '    protocol TCP',
  ];
}

/** The whole file. */
export function checksKeepalivedConf(): string {
  return [
    `# npm run bench, variant tapvsd-checks: the benchmark's services without checkers, and`,
    `# ${CHECKED_SERVERS} TCP_CHECKs every ${CHECK_INTERVAL_S} s on VIP:${CHECKS_VPORT}'s real servers.`,
    ...benchmarkServices().flatMap(uncheckedService),
    ...checkedServiceHead(),
    ...checkedServers().flatMap(checkedRealServer),
    '}',
    '',
  ].join('\n');
}

/** The file as the results' command log shows it: the first checked real server stands for all. */
export function checksKeepalivedConfSummary(): string {
  const all = checkedServers();
  const last = all[all.length - 1];
  return [
    ...benchmarkServices().flatMap(uncheckedService),
    ...checkedServiceHead(),
    ...checkedRealServer(all[0]),
    `    # ... ${all.length - 1} more like it: ${LAB.rs1} and ${LAB.rs2} alternately, ports ${CHECKED_FIRST_PORT}..${last.port} on each`,
    '}',
  ].join('\n');
}
