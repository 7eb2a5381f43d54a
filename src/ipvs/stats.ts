/**
 * Per-service / per-destination / global statistics as IPVS keeps them (ip_vs_core.c,
 * ip_vs_conn_stats(), ip_vs_in_stats(), ip_vs_out_stats(); docs/ipvs-behaviour.md#counters):
 * Conns, InPkts, OutPkts, InBytes, OutBytes, plus the 2-second rate estimator.
 *
 * Counters are plain doubles (exact up to 2^53). Displayed values are "copy - zero point", where the
 * copy is what the estimator took at its last 2 s run (the kernel's kstats) and the zero point is
 * the copy -Z found (kstats0): ip_vs_ctl.c, ip_vs_zero_stats() and ip_vs_est.c,
 * ip_vs_zero_estimator(). Traffic between the last run and -Z therefore shows after -Z, in the
 * next counters and rates, exactly as in the kernel. The estimator is IPVS's EWMA with weight
 * 1/4: conns/packets are scaled by 2^10 per 2 s sample, bytes by 2^5; read-outs round as
 * ip_vs_est.c, ip_vs_read_estimator() does (docs/ipvs-behaviour.md#rate-estimator).
 */
export class Stats {
  conns = 0;
  inPkts = 0;
  outPkts = 0;
  inBytes = 0;
  outBytes = 0;

  // Zero point (set by -Z).
  private zConns = 0;
  private zInPkts = 0;
  private zOutPkts = 0;
  private zInBytes = 0;
  private zOutBytes = 0;

  // Estimator state (ip_vs_estimator): last sampled counters and scaled averages.
  private lastConns = 0;
  private lastInPkts = 0;
  private lastOutPkts = 0;
  private lastInBytes = 0;
  private lastOutBytes = 0;
  private cpsAvg = 0;
  private inppsAvg = 0;
  private outppsAvg = 0;
  private inbpsAvg = 0;
  private outbpsAvg = 0;

  /** Visible counters, refreshed every 2 s like the kernel's (so listings advance in steps). */
  shownConns = 0;
  shownInPkts = 0;
  shownOutPkts = 0;
  shownInBytes = 0;
  shownOutBytes = 0;

  /** A packet of `len` bytes from the client side (client -> real server). */
  countIn(len: number): void {
    this.inPkts++;
    this.inBytes += len;
  }

  /** A packet of `len` bytes from the real server side (a reply). */
  countOut(len: number): void {
    this.outPkts++;
    this.outBytes += len;
  }

  /** One estimator tick (every 2 s). */
  estimate(): void {
    this.cpsAvg += ewmaStep(this.conns - this.lastConns, 9, this.cpsAvg);
    this.inppsAvg += ewmaStep(this.inPkts - this.lastInPkts, 9, this.inppsAvg);
    this.outppsAvg += ewmaStep(this.outPkts - this.lastOutPkts, 9, this.outppsAvg);
    this.inbpsAvg += ewmaStep(this.inBytes - this.lastInBytes, 4, this.inbpsAvg);
    this.outbpsAvg += ewmaStep(this.outBytes - this.lastOutBytes, 4, this.outbpsAvg);
    this.lastConns = this.conns;
    this.lastInPkts = this.inPkts;
    this.lastOutPkts = this.outPkts;
    this.lastInBytes = this.inBytes;
    this.lastOutBytes = this.outBytes;
    this.shownConns = this.conns - this.zConns;
    this.shownInPkts = this.inPkts - this.zInPkts;
    this.shownOutPkts = this.outPkts - this.zOutPkts;
    this.shownInBytes = this.inBytes - this.zInBytes;
    this.shownOutBytes = this.outBytes - this.zOutBytes;
  }

  /**
   * -Z (ip_vs_zero_stats()): the estimator's last copy, not the live counters, becomes the zero
   * point; the estimator's "last" values are that copy already (ip_vs_zero_estimator() sets them
   * to it), so the next run's rates include the packets counted since. Averages restart from 0.
   */
  zero(): void {
    this.zConns = this.lastConns;
    this.zInPkts = this.lastInPkts;
    this.zOutPkts = this.lastOutPkts;
    this.zInBytes = this.lastInBytes;
    this.zOutBytes = this.lastOutBytes;
    this.cpsAvg = this.inppsAvg = this.outppsAvg = this.inbpsAvg = this.outbpsAvg = 0;
    this.shownConns = this.shownInPkts = this.shownOutPkts = this.shownInBytes = this.shownOutBytes = 0;
  }

  get cps(): number {
    return Math.floor((this.cpsAvg + 0x1ff) / 1024);
  }
  get inpps(): number {
    return Math.floor((this.inppsAvg + 0x1ff) / 1024);
  }
  get outpps(): number {
    return Math.floor((this.outppsAvg + 0x1ff) / 1024);
  }
  get inbps(): number {
    return Math.floor((this.inbpsAvg + 0xf) / 32);
  }
  get outbps(): number {
    return Math.floor((this.outbpsAvg + 0xf) / 32);
  }

  snapshot(): StatsSnapshot {
    return {
      conns: this.shownConns,
      inPkts: this.shownInPkts,
      outPkts: this.shownOutPkts,
      inBytes: this.shownInBytes,
      outBytes: this.shownOutBytes,
      cps: this.cps,
      inpps: this.inpps,
      outpps: this.outpps,
      inbps: this.inbps,
      outbps: this.outbps,
    };
  }
}

/** avg += (sample - avg) >> 2 with sample = delta << shift; arithmetic shift rounds toward -inf. */
function ewmaStep(delta: number, shift: number, avg: number): number {
  return Math.floor((delta * 2 ** shift - avg) / 4);
}

export interface StatsSnapshot {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}
