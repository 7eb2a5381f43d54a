/**
 * main.js's command line (bench/run.mjs passes the user's options through, with --baseline-rev
 * and --baseline-build already turned into a built `--baseline DIR`):
 *
 *   --quick (1 rep, 2 s loads), --reps N, --seconds S, --only v1,v2 (variant keys),
 *   --skip-micro, --skip-macro, --out DIR, --no-save, --json FILE (raw samples),
 *   --baseline DIR (another built tapvs checkout, run next to ours), --tapcopy BIN, --udpblast BIN.
 */
import { join } from 'node:path';
import { VARIANTS, type VariantKey } from './variants.js';

export interface Options {
  quick: boolean;
  reps: number;
  seconds: number;
  pingCount: number;
  only: VariantKey[] | null;
  micro: boolean;
  macro: boolean;
  out: string;
  save: boolean;
  json: string | null;
  tapcopy: string;
  udpblast: string;
  /** --baseline: the other tree's directory, or null. */
  baseline: string | null;
  commandLine: string;
}

export function parseArgs(argv: readonly string[], repo: string): Options {
  const o: Options = {
    quick: false,
    reps: 3,
    seconds: 5,
    pingCount: 50,
    only: null,
    micro: true,
    macro: true,
    out: join(repo, 'bench', 'results'),
    save: true,
    json: null,
    tapcopy: join(repo, 'dist', 'bench', 'c', 'tapcopy'),
    udpblast: join(repo, 'dist', 'bench', 'c', 'udpblast'),
    baseline: null,
    commandLine: process.env.TAPVS_BENCH_COMMAND ?? `node dist/bench/macro/main.js ${argv.join(' ')}`,
  };
  let repsGiven = false,
    secondsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} wants a value`);
      return v;
    };
    switch (a) {
      case '--quick':
        o.quick = true;
        break;
      case '--reps':
        o.reps = Number(val());
        repsGiven = true;
        break;
      case '--seconds':
        o.seconds = Number(val());
        secondsGiven = true;
        break;
      case '--only': {
        const keys = val().split(',');
        for (const k of keys)
          if (!VARIANTS.some((v) => v.key === k))
            throw new Error(
              `--only: unknown variant ${k} (${VARIANTS.map((v) => v.key).join(', ')}; the -base variants come with --baseline)`,
            );
        o.only = keys as VariantKey[];
        break;
      }
      case '--skip-micro':
        o.micro = false;
        break;
      case '--skip-macro':
        o.macro = false;
        break;
      case '--out':
        o.out = val();
        break;
      case '--no-save':
        o.save = false;
        break;
      case '--json':
        o.json = val();
        break;
      case '--tapcopy':
        o.tapcopy = val();
        break;
      case '--udpblast':
        o.udpblast = val();
        break;
      case '--baseline':
        o.baseline = val();
        break;
      default:
        throw new Error(`unknown option ${a}`);
    }
  }
  if (o.quick) {
    if (!repsGiven) o.reps = 1;
    if (!secondsGiven) o.seconds = 2;
    o.pingCount = 20;
  }
  if (!Number.isInteger(o.reps) || o.reps < 1 || o.reps > 10) throw new Error('--reps: 1..10');
  if (!(o.seconds >= 1 && o.seconds <= 30)) throw new Error('--seconds: 1..30');
  return o;
}
