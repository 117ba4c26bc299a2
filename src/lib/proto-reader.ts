/**
 * A protobuf wire reader that walks a message and lets the caller pick the fields it
 * needs, skipping the rest without materialising them. Every length is checked against
 * the enclosing message's end; anything that does not fit throws a ProtoDecodeError.
 */

export class ProtoDecodeError extends Error {
  override readonly name = 'ProtoDecodeError';
}

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/**
 * Buffer's own UTF-8 slice, which `toString('utf8', …)` reaches after normalising its
 * arguments; protobufjs reads strings through it too. Absent from Node's typings.
 */
type SliceableBuffer = Buffer & { utf8Slice(start: number, end: number): string };

export class ProtoReader {
  readonly #bytes: SliceableBuffer;
  pos = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as SliceableBuffer;
  }

  get length(): number {
    return this.#bytes.length;
  }

  /** A varint of up to 32 bits (tags, lengths); longer ones are refused. */
  uint32(end: number): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= end) throw new ProtoDecodeError(`truncated varint at byte ${this.pos}`);
      const byte = this.#bytes[this.pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        if (value > 0xffffffff) break;
        return value;
      }
    }
    throw new ProtoDecodeError(`varint too long at byte ${this.pos}`);
  }

  /** Reads a length prefix; returns where the delimited payload ends (within `end`). */
  delimited(end: number): number {
    const length = this.uint32(end);
    const payloadEnd = this.pos + length;
    if (payloadEnd > end) throw new ProtoDecodeError(`a field of ${length} bytes overruns its message at byte ${this.pos}`);
    return payloadEnd;
  }

  /** A length-delimited string; invalid UTF-8 becomes U+FFFD for the caller to refuse. */
  string(end: number): string {
    const payloadEnd = this.delimited(end);
    const text = this.#bytes.utf8Slice(this.pos, payloadEnd);
    this.pos = payloadEnd;
    return text;
  }

  /**
   * A length-delimited string that `recent` may already hold: then that same string,
   * neither decoded again nor allocated.
   */
  recentString(end: number, recent: RecentStrings): string {
    const payloadEnd = this.delimited(end);
    const text = recent.find(this.#bytes, this.pos, payloadEnd) ?? recent.add(this.#bytes.subarray(this.pos, payloadEnd), this.#bytes.utf8Slice(this.pos, payloadEnd));
    this.pos = payloadEnd;
    return text;
  }

  /** A length-delimited byte string, as a view into the message. */
  bytes(end: number): Buffer {
    const payloadEnd = this.delimited(end);
    const view = this.#bytes.subarray(this.pos, payloadEnd);
    this.pos = payloadEnd;
    return view;
  }

  /** Skips the value of a field this reader's caller does not read. */
  skip(tag: number, end: number): void {
    switch (tag & 7) {
      case VARINT:
        for (let i = 0; ; i++) {
          if (this.pos >= end || i >= 10) throw new ProtoDecodeError(`bad varint at byte ${this.pos}`);
          if (this.#bytes[this.pos++]! < 0x80) return;
        }
      case I64:
        this.#advance(8, end);
        return;
      case LEN:
        this.pos = this.delimited(end);
        return;
      case I32:
        this.#advance(4, end);
        return;
      default:
        // Groups (3, 4) are long deprecated and appear nowhere in Envoy's API.
        throw new ProtoDecodeError(`unsupported wire type ${tag & 7} at byte ${this.pos}`);
    }
  }

  #advance(bytes: number, end: number): void {
    if (this.pos + bytes > end) throw new ProtoDecodeError(`truncated field at byte ${this.pos}`);
    this.pos += bytes;
  }
}

/**
 * Strings that recur from message to message (a peer's certificate and principal), kept
 * with their bytes, so that the same bytes give back the same string: nothing to decode
 * or collect, and its hash, for the Map lookups that follow, already computed. Matched
 * on every byte; bounded, the oldest entry replaced first.
 */
export class RecentStrings {
  readonly #bytes: Buffer[] = [];
  readonly #texts: string[] = [];
  #next = 0;
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  find(source: Buffer, start: number, end: number): string | undefined {
    const length = end - start;
    for (let i = 0; i < this.#bytes.length; i++) {
      const bytes = this.#bytes[i]!;
      if (bytes.length === length && source.compare(bytes, 0, length, start, end) === 0) return this.#texts[i];
    }
    return undefined;
  }

  /** Keeps a copy of `bytes` (not the message they are a view of) with their text. */
  add(bytes: Buffer, text: string): string {
    this.#bytes[this.#next] = Buffer.from(bytes);
    this.#texts[this.#next] = text;
    this.#next = (this.#next + 1) % this.#capacity;
    return text;
  }
}

/** The tag of a length-delimited field: what a message or string field starts with. */
export function lenTag(field: number): number {
  return (field << 3) | LEN;
}
