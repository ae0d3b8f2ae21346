import { availableParallelism } from 'node:os';

export const ALL = ['B1', 'B1PG', 'B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'B9'];

const HELP = `usage: node bench/run.js [flags]   (or: npm run bench -- [flags])
  --n N              B1/B3/B1PG: lines in the input file, so 2N+1 script runs (default 20000)
  --big-mib M        B2, B8: size of the big file in MiB (default 1024)
  --pending P        B4: pending steps in the generated db (default 1000000)
  --b4-seconds S     B4: let the engine run this long after its first step, then SIGINT (default 3)
  --b5-steps S       B5: steps of \`sleep 0.2\` on PostgreSQL (default 800)
  --b5-workers LIST  B5: the worker counts to measure (default 1,2,4,8), each worker -parallel 4
  --b6-steps S       B6: steps of the Python task with a 0.3 s start-up, one-shot and protocol = "lines" (default 2000)
  --b7-files F       B7: files in the input directory given again (default 50000)
  --b9-inputs LIST   B9: numbers of 100-byte inputs, a first run each (default 5000,50000,500000)
  --repeat R         runs of each contender, alternating (default 3)
  --only B1,B3       run only these benchmarks (default all)
  --jobs J           -parallel for the engine, -P/-j for the peers (default: cpus = ${availableParallelism()})
  --executors LIST   engine variants to compare (default spawner, the engine's default): spawner, execa,
                     any with experiments (bench/lib/experiments.js) after '+', e.g. spawner,execa,execa+smallcopy
  --out FILE         where the markdown results go (default bench/RESULTS.md)
  --no-parallel      B1: leave GNU parallel out (at N = 20000 it alone takes a quarter of an hour here)
  --keep             keep bench/work/ (default: big files and dbs removed at the end)
Environment: BENCH_N, BENCH_BIG_MIB, BENCH_PENDING, BENCH_B5_STEPS, BENCH_B5_WORKERS, BENCH_B6_STEPS, BENCH_B7_FILES, BENCH_B9_INPUTS, BENCH_REPEAT, BENCH_ONLY, BENCH_JOBS, BENCH_EXECUTORS, BENCH_NO_PARALLEL.`;

export function parseBenchArgs(argv, env = process.env) {
  const o = {
    n: num(env.BENCH_N, 20000),
    bigMib: num(env.BENCH_BIG_MIB, 1024),
    pending: num(env.BENCH_PENDING, 1_000_000),
    b4Seconds: num(env.BENCH_B4_SECONDS, 3),
    b5Steps: num(env.BENCH_B5_STEPS, 800),
    b5Workers: (list(env.BENCH_B5_WORKERS) ?? ['1', '2', '4', '8']).map((w) => num(w)),
    b5Parallel: 4,
    b5Sleep: 0.2,
    b6Steps: num(env.BENCH_B6_STEPS, 2000),
    b7Files: num(env.BENCH_B7_FILES, 50_000),
    b9Inputs: (list(env.BENCH_B9_INPUTS) ?? ['5000', '50000', '500000']).map((v) => num(v)),
    repeat: num(env.BENCH_REPEAT, 3),
    only: list(env.BENCH_ONLY) ?? ALL,
    jobs: num(env.BENCH_JOBS, availableParallelism()),
    executors: list(env.BENCH_EXECUTORS) ?? ['spawner'],
    out: 'bench/RESULTS.md',
    keep: false,
    noParallel: Boolean(env.BENCH_NO_PARALLEL),
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].replace(/^--?/, '').split(/=(.*)/s);
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case 'n':
        o.n = num(value());
        break;
      case 'big-mib':
        o.bigMib = num(value());
        break;
      case 'pending':
        o.pending = num(value());
        break;
      case 'b4-seconds':
        o.b4Seconds = num(value());
        break;
      case 'b5-steps':
        o.b5Steps = num(value());
        break;
      case 'b5-workers':
        o.b5Workers = list(value()).map((w) => num(w));
        break;
      case 'b6-steps':
        o.b6Steps = num(value());
        break;
      case 'b7-files':
        o.b7Files = num(value());
        break;
      case 'b9-inputs':
        o.b9Inputs = list(value()).map((v) => num(v));
        break;
      case 'no-parallel':
        o.noParallel = true;
        break;
      case 'repeat':
        o.repeat = num(value());
        break;
      case 'only':
        o.only = list(value()).map((b) => b.toUpperCase());
        break;
      case 'jobs':
        o.jobs = num(value());
        break;
      case 'executors':
        o.executors = list(value());
        break;
      case 'out':
        o.out = value();
        break;
      case 'keep':
        o.keep = true;
        break;
      case 'help':
      case 'h':
        console.log(HELP);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag ${argv[i]}\n${HELP}`);
    }
  }
  for (const b of o.only)
    if (!ALL.includes(b)) throw new Error(`--only: unknown benchmark ${b} (known: ${ALL.join(', ')})`);
  return o;
}

function num(v, fallback) {
  if (v === undefined || v === '') return fallback;
  const n = Number(String(v).replace(/_/g, ''));
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${v}`);
  return n;
}

function list(v) {
  return v === undefined || v === ''
    ? undefined
    : String(v)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
}
