/**
 * A server-sent-events splitter that keeps no event: it reads the stream's lines as the
 * HTML standard defines them (LF, CR or CRLF endings, `field: value`, comments after ":",
 * a blank line ends an event) and hands each `data` line's value to the sink as it
 * arrives, lines of one event joined by "\n". What it holds between chunks is a few bytes
 * of field name and whether the last byte was a CR — never a line or an event.
 */

export interface EventSink {
  /** Part of the current event's data (its `data:` lines, joined by "\n"). */
  data(bytes: Uint8Array): void;
  /** A blank line ended an event that had data. */
  dispatch(): void;
}

/** Where the splitter is in a line. */
const L = { Start: 0, Field: 1, Value: 2, Skip: 3 } as const;
type LineState = (typeof L)[keyof typeof L];

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const NEWLINE = new Uint8Array([LF]);
/** "data": the only field metering reads (event names are repeated in the JSON `type`). */
const DATA = [0x64, 0x61, 0x74, 0x61];

export class SseSplitter {
  private state: LineState = L.Start;
  private afterCr = false;
  /** The field name so far, as far as it can still be "data". */
  private field = 0;
  private fieldOk = true;
  /** Whether the value's first byte is still to come (a single leading space is dropped). */
  private valueStart = false;
  private hasData = false;
  /** A stream may begin with a UTF-8 byte order mark, which is not part of the first field. */
  private bomAt = 0;

  private readonly sink: EventSink;

  constructor(sink: EventSink) {
    this.sink = sink;
  }

  /** Whether an event's data was begun and not ended by a blank line. */
  get pending(): boolean {
    return this.hasData || this.state === L.Value || (this.state === L.Field && this.isData());
  }

  write(bytes: Uint8Array): void {
    let i = 0;
    const n = bytes.length;
    while (this.bomAt < 3 && i < n) {
      if (bytes[i] !== [0xef, 0xbb, 0xbf][this.bomAt]) {
        this.bomAt = 3;
        break;
      }
      this.bomAt++;
      i++;
    }
    // The next LF and CR at or after i (n: none), found natively and advanced as i passes
    // them, so a value costs no JavaScript per byte.
    let lf = -1;
    let cr = -1;
    while (i < n) {
      const c = bytes[i]!;
      if (this.afterCr) {
        this.afterCr = false;
        if (c === LF) {
          i++;
          continue;
        }
      }
      if (this.state === L.Value) {
        // Hand over the value up to the end of the line in one piece.
        if (lf < i) lf = indexOr(bytes, LF, i, n);
        if (cr < i) cr = indexOr(bytes, CR, i, n);
        const end = Math.min(lf, cr);
        let from = i;
        if (this.valueStart && from < end) {
          this.valueStart = false;
          if (bytes[from] === SPACE) from++;
        }
        if (end > from) this.sink.data(bytes.subarray(from, end));
        i = end;
        if (i < n) this.endLine(bytes[i]!);
        i++;
        continue;
      }
      if (c === LF || c === CR) {
        this.endLine(c);
        i++;
        continue;
      }
      switch (this.state) {
        case L.Start:
          if (c === COLON) {
            this.state = L.Skip;
            break;
          }
          this.state = L.Field;
          this.field = 0;
          this.fieldOk = true;
          this.fieldByte(c);
          break;
        case L.Field:
          if (c === COLON) this.startValue();
          else this.fieldByte(c);
          break;
        case L.Skip:
          break;
      }
      i++;
    }
  }

  private fieldByte(c: number): void {
    if (this.fieldOk && this.field < DATA.length && c === DATA[this.field]) this.field++;
    else this.fieldOk = false;
  }

  private isData(): boolean {
    return this.fieldOk && this.field === DATA.length;
  }

  private startValue(): void {
    if (!this.isData()) {
      this.state = L.Skip;
      return;
    }
    if (this.hasData) this.sink.data(NEWLINE);
    this.hasData = true;
    this.state = L.Value;
    this.valueStart = true;
  }

  private endLine(c: number): void {
    if (c === CR) this.afterCr = true;
    if (this.state === L.Start) {
      if (this.hasData) this.sink.dispatch();
      this.hasData = false;
    } else if (this.state === L.Field && this.isData()) {
      // "data" alone on a line: a data line with an empty value.
      if (this.hasData) this.sink.data(NEWLINE);
      this.hasData = true;
    }
    this.state = L.Start;
  }
}

function indexOr(bytes: Uint8Array, byte: number, from: number, none: number): number {
  const at = bytes.indexOf(byte, from);
  return at === -1 ? none : at;
}
