// The lines protocol on the wire: one JSON request per step on the process's stdin, one JSON
// reply per step on its stdout. Pure functions, so the rules are tested without a process.

/** What a long-lived process is told for one step: the one-shot script's environment, as JSON. */
export interface LinesRequest {
  input_file: string;
  input_name: string;
  input_hash: string;
  output_dir: string;
  tmpdir: string;
  step_id: number;
  /** Only for a gather step. */
  input_dir?: string;
}

export type LinesReply = { ok: true } | { ok: false; error: string } | { garbage: string };

/** A reply line longer than this is not a reply: the process is out of step with the engine. */
export const MAX_REPLY_BYTES = 1 << 20;

/** The request as one line: JSON escapes every newline inside the strings. */
export function encodeRequest(req: LinesRequest): string {
  return `${JSON.stringify(req)}\n`;
}

/** The request for a step from the variables a one-shot script would get (execute-step.ts). */
export function requestFromEnv(env: Record<string, string>): LinesRequest {
  const req: LinesRequest = {
    input_file: env.INPUT_FILE!,
    input_name: env.INPUT_NAME!,
    input_hash: env.INPUT_HASH!,
    output_dir: env.OUTPUT_DIR!,
    tmpdir: env.TMPDIR!,
    step_id: Number(env.STEP_ID),
  };
  if (env.INPUT_DIR !== undefined) req.input_dir = env.INPUT_DIR;
  return req;
}

/** `{"ok": true}` or `{"error": "..."}` (a non-empty string); anything else is garbage. */
export function parseReply(line: string): LinesReply {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { garbage: text };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { garbage: text };
  const o = v as Record<string, unknown>;
  if (typeof o.error === 'string' && o.error !== '' && (o.ok === undefined || o.ok === false))
    return { ok: false, error: o.error };
  if (o.ok === true && o.error === undefined) return { ok: true };
  return { garbage: text };
}

/** How garbage is quoted in a step's error: short, on one line. */
export function quoteGarbage(text: string): string {
  const t = text.length > 80 ? `${text.slice(0, 80)}...` : text;
  return JSON.stringify(t);
}

/** Splits a byte stream into lines; a line that grows past `max` bytes is reported whole as too long. */
export class LineSplitter {
  private partial: Buffer[] = [];
  private size = 0;

  constructor(private readonly max = MAX_REPLY_BYTES) {}

  /** The complete lines in this chunk (without "\n"), or 'too-long'. */
  push(chunk: Buffer): string[] | 'too-long' {
    const lines: string[] = [];
    let from = 0;
    for (;;) {
      const at = chunk.indexOf(10, from);
      if (at === -1) break;
      this.partial.push(chunk.subarray(from, at));
      lines.push(Buffer.concat(this.partial).toString('utf8'));
      this.partial = [];
      this.size = 0;
      from = at + 1;
    }
    if (from < chunk.length) {
      this.partial.push(chunk.subarray(from));
      this.size += chunk.length - from;
      if (this.size > this.max) return 'too-long';
    }
    return lines;
  }

  /** Bytes after the last newline (what a process wrote before it died). */
  rest(): string {
    return Buffer.concat(this.partial).toString('utf8');
  }
}
