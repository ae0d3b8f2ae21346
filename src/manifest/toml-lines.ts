// @iarna/toml returns plain values with no positions, so the lines that problems point at are found by a
// second, shallow pass over the raw text. It runs only on text the parser has accepted, so it can be
// simple: it tracks strings, comments and brackets just well enough to tell a statement from a value.

export interface TomlLines {
  /** 1-based line of the i-th `[[task]]` header. */
  taskHeaders: number[];
  /** For the i-th `[[task]]`: key -> 1-based line of its first `key = ...` (or `[task.key]` header). */
  taskKeys: Map<string, number>[];
  /** Top-level key or table name -> 1-based line. */
  topKeys: Map<string, number>;
}

type Context = 'top' | 'task' | 'elsewhere';

export function scanLines(text: string): TomlLines {
  const lines: TomlLines = { taskHeaders: [], taskKeys: [], topKeys: new Map() };
  const s = new Scanner(text);
  let context: Context = 'top';
  for (;;) {
    s.skipBlank();
    if (s.done()) break;
    const line = s.line;
    if (s.peek() === '[') {
      const array = s.peek(1) === '[';
      const keys = splitDottedKey(s.readHeader());
      const head = keys[0] ?? '';
      if (head === 'task' && keys.length === 1 && array) {
        lines.taskHeaders.push(line);
        lines.taskKeys.push(new Map());
        context = 'task';
      } else if (head === 'task' && keys.length > 1 && lines.taskKeys.length > 0) {
        // [task.env] and the like extend the last [[task]].
        setFirst(lines.taskKeys[lines.taskKeys.length - 1]!, keys[1]!, line);
        context = 'elsewhere';
      } else {
        setFirst(lines.topKeys, head, line);
        context = 'elsewhere';
      }
    } else {
      const head = splitDottedKey(s.readKey())[0] ?? '';
      s.skipValue();
      if (context === 'top') setFirst(lines.topKeys, head, line);
      else if (context === 'task') setFirst(lines.taskKeys[lines.taskKeys.length - 1]!, head, line);
    }
  }
  return lines;
}

function setFirst(map: Map<string, number>, key: string, line: number): void {
  if (!map.has(key)) map.set(key, line);
}

/** `a."b.c" . 'd'` -> ["a", "b.c", "d"] */
function splitDottedKey(raw: string): string[] {
  const keys: string[] = [];
  let i = 0;
  while (i < raw.length) {
    while (raw[i] === ' ' || raw[i] === '\t' || raw[i] === '.') i++;
    if (i >= raw.length) break;
    const q = raw[i];
    if (q === '"' || q === "'") {
      let key = '';
      i++;
      while (i < raw.length && raw[i] !== q) {
        if (q === '"' && raw[i] === '\\' && i + 1 < raw.length) {
          const escape = raw.slice(i, i + (raw[i + 1] === 'u' ? 6 : 2));
          key += unescape(escape);
          i += escape.length;
        } else {
          key += raw[i++];
        }
      }
      keys.push(key);
      i++;
    } else {
      const start = i;
      while (i < raw.length && raw[i] !== '.' && raw[i] !== ' ' && raw[i] !== '\t') i++;
      keys.push(raw.slice(start, i));
    }
  }
  return keys;
}

function unescape(escape: string): string {
  try {
    return JSON.parse(`"${escape}"`) as string;
  } catch {
    return escape;
  }
}

class Scanner {
  private i = 0;
  line = 1;

  constructor(private readonly text: string) {}

  done(): boolean {
    return this.i >= this.text.length;
  }

  peek(ahead = 0): string | undefined {
    return this.text[this.i + ahead];
  }

  /** Whitespace, newlines and comments between statements. */
  skipBlank(): void {
    while (!this.done()) {
      const c = this.text[this.i]!;
      if (c === '#') this.skipComment();
      else if (c === ' ' || c === '\t' || c === '\r' || c === '\n') this.advance();
      else return;
    }
  }

  /** The dotted name inside `[...]` or `[[...]]`, consuming the rest of the line. */
  readHeader(): string {
    while (this.peek() === '[') this.advance();
    let name = '';
    while (!this.done() && this.peek() !== ']' && this.peek() !== '\n') {
      const c = this.peek()!;
      name += c === '"' || c === "'" ? this.readQuoted(c) : (this.advance(), c);
    }
    this.skipRestOfLine();
    return name;
  }

  /** The dotted key before `=`, consuming the `=`. */
  readKey(): string {
    let key = '';
    while (!this.done() && this.peek() !== '=' && this.peek() !== '\n') {
      const c = this.peek()!;
      key += c === '"' || c === "'" ? this.readQuoted(c) : (this.advance(), c);
    }
    if (this.peek() === '=') this.advance();
    return key.trim();
  }

  /** A value, however many lines its arrays, inline tables or multi-line strings span. */
  skipValue(): void {
    let depth = 0;
    while (!this.done()) {
      const c = this.peek()!;
      if (c === '"' || c === "'") {
        if (this.peek(1) === c && this.peek(2) === c) this.skipMultiline(c);
        else this.readQuoted(c);
      } else if (c === '#') {
        this.skipComment();
      } else if (c === '\n') {
        if (depth === 0) return;
        this.advance();
      } else {
        if (c === '[' || c === '{') depth++;
        else if (c === ']' || c === '}') depth--;
        this.advance();
      }
    }
  }

  /** A one-line string, returned with its quotes so a key keeps its exact text. */
  private readQuoted(q: string): string {
    const start = this.i;
    this.advance();
    while (!this.done() && this.peek() !== q && this.peek() !== '\n') {
      if (q === '"' && this.peek() === '\\') this.advance();
      this.advance();
    }
    this.advance();
    return this.text.slice(start, this.i);
  }

  private skipMultiline(q: string): void {
    this.i += 3;
    while (!this.done()) {
      if (q === '"' && this.peek() === '\\') {
        this.advance();
        this.advance();
      } else if (this.peek() === q && this.peek(1) === q && this.peek(2) === q) {
        this.i += 3;
        // Up to two more quotes belong to the content: """a""""" ends with the last three.
        if (this.peek() === q) this.i++;
        if (this.peek() === q) this.i++;
        return;
      } else {
        this.advance();
      }
    }
  }

  private skipComment(): void {
    while (!this.done() && this.peek() !== '\n') this.advance();
  }

  private skipRestOfLine(): void {
    while (!this.done() && this.peek() !== '\n') {
      const c = this.peek()!;
      if (c === '"' || c === "'") this.readQuoted(c);
      else this.advance();
    }
  }

  private advance(): void {
    if (this.text[this.i] === '\n') this.line++;
    this.i++;
  }
}
