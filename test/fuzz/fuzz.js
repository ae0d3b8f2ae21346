// The fuzzer of the manifest loader and the argument parser: real manifests and real flag lists,
// mutated by a seeded random source. Case i of seed s depends on (s, i) alone, so any failure
// reproduces with `node test/fuzz/run.js --seed s --only i`.
//
// What is checked: the loader either returns a manifest or throws a ManifestError whose problems
// are each one line (or a UserError of one line); the parser returns or throws a one-line
// UserError; nothing else is thrown (in the CLI that would be "internal error" and, with -verbose,
// a stack trace). A sample goes through the real CLI too: exit 0, or exit 1/2 with every stderr
// line a one-line `task-pipeline: ...` message, never "internal error" nor a stack frame.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
const dist = (p) => import(join(ROOT, 'dist', p));

/** xorshift128+ over two 32-bit halves, seeded through splitmix-style mixing: small, fast, deterministic. */
export function random(seed, index) {
  let s = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index | 0, 0x85ebca77) ^ 0x27d4eb2f) >>> 0;
  const mix = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  };
  const next = () => mix() / 4294967296;
  const r = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (list) => list[Math.floor(next() * list.length)],
    shuffle: (list) => {
      const a = [...list];
      for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [a[i], a[j]] = [a[j], a[i]];
      }
      return a;
    },
  };
  return r;
}

/** Manifests that use every key, besides the demos in manifests/. */
const SEEDS = [
  `[[task]]
name = "split"
script = 'split -l 1 "$INPUT_FILE" "$OUTPUT_DIR/line-"'

[[task]]
name = "upper"
match = ["line-*", "**/x?.txt", "[a-z]*"]
parallel = 2
timeout = 5
retries = 1
script = 'tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/up"'

[[task]]
name = "total"
gather = true
inputs = ["upper", "split"]
stdout = "lines"
script = 'cat "$INPUT_DIR"/* | wc -l'
`,
  `# a cycle, env, shell and files
[[task]]
name = "seed"
inputs = []
env = { GREETING = "hi", N = "3" }
shell = ["sh", "-e", "-c"]
script = 'echo "$GREETING" > "$OUTPUT_DIR/g"'

[[task]]
name = "grow"
inputs = ["seed", "grow"]
max_rounds = 5
files = ["fixture.sh"]
script = '''
#!/bin/sh
n=$(wc -c < "$INPUT_FILE")
[ "$n" -lt 20 ] && cat "$INPUT_FILE" "$INPUT_FILE" > "$OUTPUT_DIR/g"
true
'''
`,
];

function corpus() {
  const dir = join(ROOT, 'manifests');
  const demos = readdirSync(dir)
    .filter((n) => n.endsWith('.toml'))
    .sort()
    .map((n) => readFileSync(join(dir, n), 'utf8'));
  return [...demos, ...SEEDS];
}

const KEYS = [
  'name',
  'script',
  'inputs',
  'match',
  'gather',
  'parallel',
  'timeout',
  'retries',
  'env',
  'shell',
  'stdout',
  'files',
  'max_rounds',
];
const VALUES = [
  '0',
  '-1',
  '1',
  '42',
  '1.5',
  '-0.0',
  '1e400',
  'inf',
  'nan',
  'true',
  'false',
  '""',
  '"x"',
  "'lit'",
  '"""multi\nline"""',
  '[]',
  '[1, 2]',
  '["a", 1]',
  '["split"]',
  '[[]]',
  '{}',
  '{ A = "1" }',
  '{ A = 1 }',
  '{ INPUT_FILE = "x" }',
  '1979-05-27T07:32:00Z',
  '"../.."',
  '"/abs"',
  '"a\\tb"',
  '"\\u0000"',
  `"${'x'.repeat(300)}"`,
  '["**/[z-a]"]',
  '["["]',
  '"é☃"',
  '9007199254740993',
  '0x10',
  '+7',
];
const JUNK = [
  '"',
  "'",
  '[',
  ']',
  '[[',
  '=',
  '#',
  '\\',
  '{',
  '}',
  ',',
  '.',
  '\n',
  '\t',
  ' ',
  '\u0000',
  '\r',
  'é',
  '\u2028',
  '0',
  'a',
  '"""',
  "'''",
];

/** One to three mutations of a manifest's text. */
export function mutateManifest(r, text) {
  let lines = text.split('\n');
  const n = r.int(1, 3);
  for (let k = 0; k < n; k++) {
    const at = r.int(0, Math.max(0, lines.length - 1));
    switch (r.int(0, 10)) {
      case 0:
        lines.splice(at, 1);
        break;
      case 1:
        lines.splice(at, 0, lines[at] ?? '');
        break;
      case 2: {
        const b = r.int(0, Math.max(0, lines.length - 1));
        [lines[at], lines[b]] = [lines[b], lines[at]];
        break;
      }
      case 3: {
        const line = lines[at] ?? '';
        const c = r.int(0, line.length);
        lines[at] = line.slice(0, c) + r.pick(JUNK) + line.slice(c + (r.chance(0.5) ? 1 : 0));
        break;
      }
      case 4:
      case 5: {
        // Another type, or another value, for a key that is there.
        const keyed = lines.map((l, i) => [l, i]).filter(([l]) => /^\s*[A-Za-z_]+\s*=/.test(l));
        if (keyed.length === 0) break;
        const [line, i] = r.pick(keyed);
        lines[i] = `${line.slice(0, line.indexOf('=') + 1)} ${r.pick(VALUES)}`;
        break;
      }
      case 6:
        lines.splice(
          at,
          0,
          `${r.pick([...KEYS, 'scirpt', 'input', 'gathr', 'foo', 'Name', 'env.X', '"quoted key"'])} = ${r.pick(VALUES)}`,
        );
        break;
      case 7: {
        const joined = lines.join('\n');
        lines = joined.slice(0, r.int(0, joined.length)).split('\n');
        break;
      }
      case 8:
        lines.splice(
          at,
          0,
          r.pick(['[[task]]', '[task]', '[[tasks]]', '[other]', '[[task]]\nname = "x"', '[task.env]']),
        );
        break;
      case 9: {
        // A whole task again: duplicate names, or a second definition of a chain.
        const starts = lines
          .map((l, i) => [l, i])
          .filter(([l]) => l.trim() === '[[task]]')
          .map(([, i]) => i);
        if (starts.length === 0) break;
        const s = r.pick(starts);
        const end = starts.find((i) => i > s) ?? lines.length;
        lines.push(...lines.slice(s, end));
        break;
      }
      default: {
        // A key renamed to a near miss or a case change.
        const keyed = lines.map((l, i) => [l, i]).filter(([l]) => /^\s*[a-z_]+\s*=/.test(l));
        if (keyed.length === 0) break;
        const [line, i] = r.pick(keyed);
        const key = line.trim().split(/\s*=/)[0];
        const miss = r.pick([key.toUpperCase(), `${key}s`, key.slice(1), `${key[0]}${key}`, key.replace(/_/g, '-')]);
        lines[i] = line.replace(key, miss);
      }
    }
  }
  return lines.join('\n');
}

/** A random argument list for a command: its real flags, in random forms and order, with random values. */
export function mutateArgs(r, command, flags, paths) {
  const names = r.shuffle(Object.keys(flags)).slice(0, r.int(0, Object.keys(flags).length));
  const argv = [];
  const value = (spec) => {
    if (spec?.type === 'int')
      return r.pick(['1', '2', '0', '-3', '1.5', 'x', '', '1e3', '007', '99999999999999999999', '3\n', 'a\rb']);
    if (spec?.type === 'bool') return r.pick(['true', 'false', 'yes', 'no', '1', '0', 'maybe', '', 'no\n']);
    return r.pick([...paths, '', 'x', '-', '--', '-db', 'é☃', 'a\tb', 'a\nb', '*', '**/x', `${'y'.repeat(200)}`]);
  };
  for (const name of names) {
    const spec = flags[name];
    const dash = r.pick(['-', '--']);
    if (spec.type === 'bool' && r.chance(0.7)) {
      argv.push(r.chance(0.8) ? `${dash}${name}` : `${dash}${name}=${value(spec)}`);
    } else if (r.chance(0.5)) {
      argv.push(`${dash}${name}`, value(spec));
    } else {
      argv.push(`${dash}${name}=${value(spec)}`);
    }
  }
  for (let k = r.int(0, 2); k > 0; k--) {
    const at = r.int(0, argv.length);
    argv.splice(
      at,
      0,
      r.pick([
        'extra',
        '--',
        '-',
        '-h',
        `-${command.slice(1)}`,
        '-mainfest',
        '--dbb',
        '-paralel',
        '-1',
        '-x=y',
        'rm',
        '0',
        r.pick(paths),
      ]),
    );
  }
  if (r.chance(0.15) && argv.length > 0) argv.splice(r.int(0, argv.length - 1), 1);
  return argv;
}

/** A line of a JavaScript stack trace (help text may well hold "    at most N"). */
const STACK_FRAME = /^ +at (.+ \()?(file:|node:|\/)\S*:\d+:\d+\)?$/m;

function oneLine(text) {
  return !text.includes('\n') && !text.includes('    at ') && !/internal error/.test(text);
}

/**
 * Run `count` cases of `seed`: most in-process, `cliSample` of them (spread over the run) through
 * the real CLI as well. Resolves with counts and the failures (each naming its case).
 */
export async function fuzz({ seed, count, cliSample = 50, only = null, jobs = 2, log = () => {} }) {
  const started = Date.now();
  const { loadManifest, ManifestError, formatProblem } = await dist('manifest/index.js');
  const { parseArgs } = await dist('cli/args.js');
  const { UserError } = await dist('errors.js');
  const { COMMANDS } = await dist('cli/commands.js');
  const commands = {};
  // serve runs until it is stopped: a valid argument list would hold a case until its kill.
  for (const [name, entry] of Object.entries(COMMANDS))
    if (name !== 'serve') commands[name] = (await entry.load()).command;
  const texts = corpus();
  const dir = mkdtempSync(join(tmpdir(), 'tp-fuzz-'));
  const tally = { cases: 0, valid: 0, refused: 0, cli: 0, failures: [] };
  try {
    writeFileSync(join(dir, 'fixture.sh'), 'true\n');
    mkdirSync(join(dir, 'inputs'));
    writeFileSync(join(dir, 'inputs', 'a.txt'), 'a\n');
    writeFileSync(join(dir, 'inputs', 'b.txt'), 'b\n');
    const tiny = join(dir, 'tiny.toml');
    writeFileSync(
      tiny,
      '[[task]]\nname = "t"\nshell = ["sh", "-c"]\nscript = \'cat "$INPUT_FILE" > "$OUTPUT_DIR/x"\'\n',
    );
    const db = join(dir, 'db');
    const paths = [
      tiny,
      db,
      join(dir, 'nothing'),
      join(dir, 'out'),
      join(dir, 'inputs'),
      join(dir, 'inputs', 'a.txt'),
      'e3b0c442',
      '1',
    ];
    const cliCases = [];
    const every = cliSample > 0 ? Math.max(1, Math.floor(count / cliSample)) : Infinity;
    for (let i = 0; i < count; i++) {
      if (only !== null && i !== only) continue;
      const r = random(seed, i);
      const viaCli = only !== null || i % every === 0;
      const fail = (what, detail) => tally.failures.push({ case: i, what, detail });
      tally.cases++;
      if (r.chance(0.6)) {
        const text = mutateManifest(r, r.pick(texts));
        const file = join(dir, `m-${i}.toml`);
        writeFileSync(file, text);
        try {
          loadManifest(file);
          tally.valid++;
        } catch (err) {
          if (err instanceof ManifestError) {
            tally.refused++;
            if (err.problems.length === 0) fail('manifest', 'a ManifestError with no problem');
            for (const p of err.problems)
              if (!oneLine(formatProblem(p))) fail('manifest', `not one line: ${JSON.stringify(formatProblem(p))}`);
          } else if (err instanceof UserError) {
            tally.refused++;
            if (!oneLine(err.message)) fail('manifest', `not one line: ${JSON.stringify(err.message)}`);
          } else {
            fail('manifest', `threw ${err?.stack ?? err}\n--- manifest ---\n${text}`);
          }
        }
        if (viaCli) cliCases.push({ i, argv: ['graph', '-manifest', file] });
        else rmSync(file);
      } else {
        const name = r.pick(Object.keys(commands));
        const command = commands[name];
        const argv = mutateArgs(r, name, command.flags, paths);
        try {
          parseArgs(argv, command.flags, command.name);
          tally.valid++;
        } catch (err) {
          if (err instanceof UserError) {
            tally.refused++;
            if (!oneLine(err.message))
              fail('args', `not one line: ${JSON.stringify(err.message)} for ${JSON.stringify([name, ...argv])}`);
          } else {
            fail('args', `threw ${err?.stack ?? err} for ${JSON.stringify([name, ...argv])}`);
          }
        }
        if (viaCli) cliCases.push({ i, argv: [name, ...argv] });
      }
    }
    // A real db for the commands that read one (a tiny run); -input files from the temp dir.
    if (cliCases.length > 0) {
      const made = await runCli(['-manifest', tiny, '-db', db, '-input', join(dir, 'fixture.sh'), '-quiet'], dir);
      if (made.code !== 0) throw new Error(`fuzz: could not make its db: ${made.stderr}`);
    }
    let next = 0;
    const worker = async () => {
      while (next < cliCases.length) {
        const c = cliCases[next++];
        const res = await runCli(c.argv, dir);
        tally.cli++;
        const lines = res.stderr.split('\n').filter((l) => l !== '');
        const bad =
          res.signal !== null ||
          ![0, 1, 2].includes(res.code) ||
          /internal error/.test(res.stderr) ||
          STACK_FRAME.test(res.stderr + res.stdout) ||
          (res.code !== 0 && (lines.length === 0 || !lines.every((l) => l.startsWith('task-pipeline: '))));
        if (bad)
          tally.failures.push({
            case: c.i,
            what: 'cli',
            detail: `${JSON.stringify(c.argv)}: exit ${res.code ?? res.signal}\n${res.stderr}`,
          });
        log(`cli case ${c.i}: exit ${res.code}`);
      }
    };
    await Promise.all(Array.from({ length: jobs }, worker));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { ...tally, ms: Date.now() - started };
}

function runCli(argv, cwd) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...argv], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
