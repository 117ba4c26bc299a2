/**
 * A streaming JSON scanner that keeps only what metering needs: it walks a JSON text fed
 * in chunks, checks its structure, and captures the values at a few paths near the top
 * (`usage`, `model`, `response.usage`…), each capped in size. Everything else passes
 * through without being kept, so a 100 MB completion costs the same memory as a 1 KB one:
 * the nesting stack (at most MAX_DEPTH bytes), the current key (at most MAX_KEY bytes)
 * and the captured values (each at most its cap).
 *
 * Streaming rather than a capped buffer: a non-streamed completion may be megabytes of
 * text with its `usage` at the end, so any cap that fits real responses would be large,
 * and a smaller one would leave exactly the expensive responses unmetered.
 *
 * Structure is checked exactly (brackets, commas, colons, keys, literals); the contents of
 * strings and numbers outside captured values are skipped, not validated — captured values
 * are validated by JSON.parse. Duplicate keys: the last one wins, as in JSON.parse.
 */

/** The deepest nesting followed; deeper is `too_large` (real responses nest a few levels). */
export const MAX_DEPTH = 512;
/** Keys longer than this are never among the wanted ones, so they are not kept. */
const MAX_KEY = 64;

/** The body cannot be metered: `reason` is the reading's cause. */
export class ScanError extends Error {
  override readonly name = 'ScanError';
  readonly code = 'ERR_USAGE_SCAN';
  readonly reason: 'unparseable' | 'too_large';
  constructor(reason: 'unparseable' | 'too_large', message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A value to keep: where it is (object keys from the top) and how many bytes it may have. */
export interface Wanted {
  readonly path: readonly string[];
  readonly cap: number;
}

/** Where the scanner is in the grammar. */
const S = {
  Value: 0,
  ArrayFirst: 1,
  ObjectFirst: 2,
  Key: 3,
  Colon: 4,
  After: 5,
  InString: 6,
  Number: 7,
  Literal: 8,
  Done: 9,
} as const;
type State = (typeof S)[keyof typeof S];

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OBJECT = 1;
const ARRAY = 2;
const SEP = '\u0000';
const decoder = new TextDecoder();

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isNumberByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
}

/** true, false and null, by their first byte. */
const LITERALS = new Map<number, Uint8Array>(['true', 'false', 'null'].map((word) => [word.charCodeAt(0), new TextEncoder().encode(word)]));

export class JsonScan {
  private readonly wanted: ReadonlyMap<string, number>;
  /** How deep wanted paths go: keys are kept only down to here. */
  private readonly keyDepth: number;

  private state: State = S.Value;
  private readonly kinds = new Uint8Array(MAX_DEPTH);
  private depth = 0;
  /** Every wanted path and every prefix of one, joined. */
  private readonly prefixes: ReadonlySet<string>;
  /** For each open object down to keyDepth: the path of its current key, while that is
   * (a prefix of) a wanted path; null otherwise, and for arrays. */
  private readonly paths: (string | null)[] = [];
  /** Whether the string being read is a key, and whether its bytes are kept. */
  private isKey = false;
  private inKey = false;
  private readonly keyParts: number[] = [];
  private keyEscaped = false;
  private escape = false;
  private literal: Uint8Array | null = null;
  private literalAt = 0;

  /** The value being captured: its joined path, its bytes so far, the depth it started at. */
  private capturePath: string | null = null;
  private captureParts: Uint8Array[] = [];
  private captureBytes = 0;
  private captureCap = 0;
  private captureDepth = 0;
  /** Where in the current chunk the capture's not yet kept bytes start. */
  private from = 0;
  private readonly found = new Map<string, unknown>();
  /** The captured values' sizes, so that retainedBytes counts them too. */
  private readonly foundBytes = new Map<string, number>();

  constructor(wanted: readonly Wanted[]) {
    this.wanted = new Map(wanted.map((w) => [w.path.join(SEP), w.cap]));
    this.prefixes = new Set(wanted.flatMap((w) => w.path.map((_, i) => w.path.slice(0, i + 1).join(SEP))));
    this.keyDepth = Math.max(...wanted.map((w) => w.path.length));
  }

  /** Ready for the next document (one per SSE event), keeping nothing of the last. */
  reset(): void {
    this.state = S.Value;
    this.depth = 0;
    this.paths.length = 0;
    this.isKey = false;
    this.inKey = false;
    this.keyParts.length = 0;
    this.escape = false;
    this.literal = null;
    this.capturePath = null;
    this.captureParts = [];
    this.captureBytes = 0;
    this.found.clear();
    this.foundBytes.clear();
  }

  /** The captured value at `path`, parsed; undefined when the document had none. */
  get(path: readonly string[]): unknown {
    return this.found.get(path.join(SEP));
  }

  /** Whether one whole JSON value has been read (only whitespace may follow). */
  get complete(): boolean {
    return this.state === S.Done || (this.state === S.Number && this.depth === 0);
  }

  /** Bytes held beyond the fixed nesting stack: keys, captured values and the one being captured. */
  get retainedBytes(): number {
    let bytes = this.keyParts.length + this.captureBytes;
    for (const path of this.paths) bytes += path?.length ?? 0;
    for (const size of this.foundBytes.values()) bytes += size;
    return bytes;
  }

  /** The end of the text: a number at the top level ends here. */
  finish(): void {
    if (this.state === S.Number && this.depth === 0) {
      this.from = 0;
      this.endValue(new Uint8Array(0), 0);
    }
  }

  write(bytes: Uint8Array): void {
    this.from = 0;
    const n = bytes.length;
    // The next quote and backslash at or after i (n: none), found once per chunk and
    // advanced as i passes them, so skipping strings stays linear.
    let quote = -1;
    let slash = -1;
    let i = 0;
    while (i < n) {
      const c = bytes[i]!;
      switch (this.state) {
        case S.InString: {
          if (this.escape) {
            this.escape = false;
            if (this.inKey) this.keyBytes(bytes, i, i + 1);
            i++;
            break;
          }
          if (quote < i) quote = indexOr(bytes, QUOTE, i, n);
          if (slash < i) slash = indexOr(bytes, BACKSLASH, i, n);
          if (slash < quote) {
            if (this.inKey) {
              this.keyBytes(bytes, i, slash + 1);
              this.keyEscaped = true;
            }
            this.escape = true;
            i = slash + 1;
            break;
          }
          if (this.inKey) this.keyBytes(bytes, i, quote);
          if (quote === n) {
            i = n;
            break;
          }
          i = quote + 1;
          if (this.isKey) this.endKey();
          else this.endValue(bytes, i);
          break;
        }
        case S.Number: {
          if (isNumberByte(c)) {
            i++;
            break;
          }
          // The number ended before this byte, which is read again as what follows it.
          this.endValue(bytes, i);
          break;
        }
        case S.Literal: {
          if (c !== this.literal![this.literalAt]) throw new ScanError('unparseable', 'not JSON: a misspelt true, false or null');
          this.literalAt++;
          i++;
          if (this.literalAt === this.literal!.length) this.endValue(bytes, i);
          break;
        }
        default: {
          if (!isSpace(c)) this.structural(c, bytes, i);
          i++;
        }
      }
    }
    if (this.capturePath !== null) this.capture(bytes, this.from, n);
  }

  /** One non-space byte outside strings, numbers and literals. */
  private structural(c: number, bytes: Uint8Array, i: number): void {
    const state = this.state;
    if (state === S.Value || state === S.ArrayFirst) {
      if (state === S.ArrayFirst && c === 0x5d) this.close(bytes, i);
      else this.startValue(c, i);
    } else if (state === S.ObjectFirst || state === S.Key) {
      if (state === S.ObjectFirst && c === 0x7d) this.close(bytes, i);
      else this.startKey(c);
    } else if (state === S.Colon) {
      if (c !== 0x3a) throw new ScanError('unparseable', 'not JSON: expected ":" after a key');
      this.state = S.Value;
    } else if (state === S.After) {
      const kind = this.kinds[this.depth - 1];
      if (c === 0x2c) this.state = kind === OBJECT ? S.Key : S.Value;
      else if ((c === 0x7d && kind === OBJECT) || (c === 0x5d && kind === ARRAY)) this.close(bytes, i);
      else throw new ScanError('unparseable', 'not JSON: expected "," or a closing bracket');
    } else {
      throw new ScanError('unparseable', 'not JSON: text after the end of the document');
    }
  }

  private startKey(c: number): void {
    if (c !== QUOTE) throw new ScanError('unparseable', 'not JSON: expected a quoted key');
    this.state = S.InString;
    this.isKey = true;
    // Only a key that could continue a wanted path is kept.
    this.inKey = this.depth <= this.keyDepth && (this.depth === 1 || typeof this.paths[this.depth - 2] === 'string');
    this.keyParts.length = 0;
    this.keyEscaped = false;
  }

  private keyBytes(bytes: Uint8Array, from: number, to: number): void {
    for (let j = from; j < to && this.keyParts.length <= MAX_KEY; j++) this.keyParts.push(bytes[j]!);
  }

  private endKey(): void {
    this.isKey = false;
    this.state = S.Colon;
    if (this.depth > this.keyDepth) return;
    let path: string | null = null;
    if (this.inKey && this.keyParts.length <= MAX_KEY) {
      let key = textOf(this.keyParts);
      if (this.keyEscaped) {
        try {
          key = JSON.parse(`"${key}"`) as string;
        } catch {
          throw new ScanError('unparseable', 'not JSON: a key with an invalid escape');
        }
      }
      const joined = this.depth === 1 ? key : `${this.paths[this.depth - 2]}${SEP}${key}`;
      if (this.prefixes.has(joined)) path = joined;
    }
    this.paths[this.depth - 1] = path;
    this.keyParts.length = 0;
    this.inKey = false;
  }

  private startValue(c: number, i: number): void {
    if (this.capturePath === null && this.depth > 0 && this.depth <= this.keyDepth) {
      const path = this.paths[this.depth - 1] ?? null;
      const cap = path === null ? undefined : this.wanted.get(path);
      if (cap !== undefined) {
        this.capturePath = path;
        this.captureCap = cap;
        this.captureParts = [];
        this.captureBytes = 0;
        this.captureDepth = this.depth;
        this.from = i;
      }
    }
    if (c === 0x7b || c === 0x5b) {
      if (this.depth === MAX_DEPTH) throw new ScanError('too_large', `JSON nested deeper than ${MAX_DEPTH} levels`);
      this.kinds[this.depth] = c === 0x7b ? OBJECT : ARRAY;
      this.depth++;
      if (this.depth <= this.keyDepth) this.paths[this.depth - 1] = null;
      this.state = c === 0x7b ? S.ObjectFirst : S.ArrayFirst;
    } else if (c === QUOTE) {
      this.state = S.InString;
      this.isKey = false;
      this.inKey = false;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      this.state = S.Number;
    } else if (LITERALS.has(c)) {
      this.literal = LITERALS.get(c)!;
      this.literalAt = 1;
      this.state = S.Literal;
    } else {
      throw new ScanError('unparseable', 'not JSON: expected a value');
    }
  }

  private close(bytes: Uint8Array, i: number): void {
    this.depth--;
    if (this.paths.length > this.depth) this.paths.length = this.depth;
    this.endValue(bytes, i + 1);
  }

  /** A value ended just before `end` in `bytes` (containers: after their closing bracket). */
  private endValue(bytes: Uint8Array, end: number): void {
    this.state = this.depth === 0 ? S.Done : S.After;
    if (this.capturePath === null || this.depth !== this.captureDepth) return;
    this.capture(bytes, this.from, end);
    const text = textOf(concat(this.captureParts, this.captureBytes));
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new ScanError('unparseable', 'not JSON: a malformed value');
    }
    this.found.set(this.capturePath, value);
    this.foundBytes.set(this.capturePath, this.captureBytes);
    this.capturePath = null;
    this.captureParts = [];
    this.captureBytes = 0;
  }

  private capture(bytes: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    if (this.captureBytes + (to - from) > this.captureCap) throw new ScanError('too_large', `a metered value is larger than ${this.captureCap} bytes`);
    this.captureBytes += to - from;
    this.captureParts.push(bytes.slice(from, to));
  }
}

/** UTF-8 bytes as text; short ASCII (keys, models, counts) without the decoder's fixed cost. */
export function textOf(bytes: ArrayLike<number>): string {
  if (bytes.length <= 16_384) {
    let ascii = true;
    for (let i = 0; i < bytes.length && ascii; i++) ascii = bytes[i]! < 0x80;
    if (ascii) return String.fromCharCode.apply(null, bytes as number[]);
  }
  return decoder.decode(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
}

function indexOr(bytes: Uint8Array, byte: number, from: number, none: number): number {
  const at = bytes.indexOf(byte, from);
  return at === -1 ? none : at;
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
}
