#!/usr/bin/env node
/**
 * tapvsadm-restore: rules in `-S` form from stdin, as ipvsadm ships ipvsadm-restore
 * (`ipvsadm-restore < /etc/sysconfig/ipvsadm`). Same as `tapvsadm -R`: all or nothing.
 */
import { processIo, run } from './tapvsadm.js';

if (process.argv.length > 2) {
  process.stderr.write('usage: tapvsadm-restore < RULES\n');
  process.exit(2);
}
run(['-R'], processIo()).then((code) => {
  process.exitCode = code;
});
