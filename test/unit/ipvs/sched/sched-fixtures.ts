/**
 * Shared fixtures for the scheduler tests: dotted-quad → int32, dests with names, a service
 * whose list order is given explicitly (IPVS order: newest first), IPVS-style "add" (to the head)
 * and a reusable flow key. Not a test file by itself.
 */
import { Dest } from '../../../../src/ipvs/dest.js';
import type { Scheduler } from '../../../../src/ipvs/sched/scheduler.js';
import { FlowKey, Service } from '../../../../src/ipvs/service.js';
import { IPPROTO_TCP } from '../../../../src/packet/ipv4.js';

export const VIP = ip('192.0.2.10');

export function ip(s: string): number {
  return s.split('.').reduce((a, b) => (a << 8) | Number(b) | 0, 0);
}

export interface DestInit {
  weight?: number;
  active?: number;
  inactive?: number;
  overloaded?: boolean;
  port?: number;
}

const names = new WeakMap<Dest, string>();

/** A dest named `name` (10.1.0.x), with counters. */
export function dest(name: string, init: DestInit = {}): Dest {
  const n = [...name].reduce((a, c) => (a * 31 + c.charCodeAt(0)) & 0xffff, 7);
  const d = new Dest(ip(`10.1.${n >> 8}.${n & 0xff}`), init.port ?? 80);
  d.weight = init.weight ?? 1;
  d.activeConns = init.active ?? 0;
  d.inactConns = init.inactive ?? 0;
  d.overloaded = init.overloaded ?? false;
  names.set(d, name);
  return d;
}

export function nameOf(d: Dest | null): string {
  return d === null ? 'null' : (names.get(d) ?? '?');
}

/** A TCP VIP:80 service whose dest list is exactly `dests` (already in IPVS order). */
export function service(sched: Scheduler, dests: Dest[] = []): Service {
  const svc = new Service(IPPROTO_TCP, VIP, 80, sched);
  svc.dests = dests;
  sched.destsChanged(svc);
  return svc;
}

/** ipvsadm -a: the new dest goes to the head of the list, then the scheduler hears of it. */
export function addDest(svc: Service, d: Dest): void {
  d.available = true;
  svc.dests.unshift(d);
  svc.scheduler.destsChanged(svc);
}

/** ipvsadm -d. */
export function delDest(svc: Service, d: Dest): void {
  svc.dests.splice(svc.dests.indexOf(d), 1);
  d.available = false;
  svc.scheduler.destsChanged(svc);
}

export function flow(caddr: number, cport = 40000, vaddr = VIP, vport = 80, proto = IPPROTO_TCP): FlowKey {
  const f = new FlowKey();
  f.proto = proto;
  f.caddr = caddr | 0;
  f.cport = cport;
  f.vaddr = vaddr | 0;
  f.vport = vport;
  return f;
}

/** `count` decisions for one flow, as names; optionally counting each pick as a new connection. */
export function picks(svc: Service, count: number, f = flow(ip('198.51.100.1')), nowMs = 0): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(nameOf(svc.scheduler.schedule(svc, f, nowMs)));
  return out;
}
