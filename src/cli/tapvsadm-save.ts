#!/usr/bin/env node
/**
 * tapvsadm-save [-n]: the running rules in `-S` form on stdout, as ipvsadm ships ipvsadm-save
 * (`ipvsadm-save > /etc/sysconfig/ipvsadm`). With tapvs: `tapvsadm-save -n > /etc/tapvs/rules`,
 * the file the systemd unit loads at start (docs/service.md). Same as `tapvsadm -S [-n]`.
 */
import { processIo, run } from './tapvsadm.js';

const extra = process.argv.slice(2);
if (extra.some((a) => a !== '-n')) {
  process.stderr.write('usage: tapvsadm-save [-n]\n');
  process.exit(2);
}
run(['-S', ...extra], processIo()).then((code) => {
  process.exitCode = code;
});
