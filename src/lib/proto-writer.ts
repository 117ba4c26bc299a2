/**
 * A protobuf wire writer for messages whose size is known before writing: the caller
 * measures with the `*Size` helpers, allocates once, and writes fields in order. No
 * per-field allocation, unlike a general writer that builds a list of operations first.
 * Field numbers here are all below 16, so every tag is one byte.
 */

const LEN = 2;

export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

/** Bytes a length-delimited field takes: tag, length, payload. */
export function lenFieldSize(payloadBytes: number): number {
  return 1 + varintSize(payloadBytes) + payloadBytes;
}

/** Bytes a string field takes, with its UTF-8 length measured once by the caller. */
export function stringFieldSize(text: string): number {
  return lenFieldSize(Buffer.byteLength(text));
}

/** Buffer's own UTF-8 write, which `write(text, offset, length, 'utf8')` reaches after normalising its arguments. Absent from Node's typings. */
type WritableBuffer = Buffer & { utf8Write(text: string, offset: number, length: number): number };

export class ProtoWriter {
  readonly buffer: WritableBuffer;
  #pos = 0;

  constructor(size: number) {
    this.buffer = Buffer.allocUnsafe(size) as WritableBuffer;
  }

  /** The start of a length-delimited field whose payload the next writes fill. */
  lenField(field: number, payloadBytes: number): this {
    this.buffer[this.#pos++] = (field << 3) | LEN;
    return this.#varint(payloadBytes);
  }

  varintField(field: number, value: number): this {
    this.buffer[this.#pos++] = field << 3;
    return this.#varint(value);
  }

  stringField(field: number, text: string): this {
    const bytes = Buffer.byteLength(text);
    this.lenField(field, bytes);
    this.#pos += this.buffer.utf8Write(text, this.#pos, bytes);
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.buffer.set(bytes, this.#pos);
    this.#pos += bytes.length;
    return this;
  }

  /** The encoded message; throws if the measured size and the writes disagree. */
  finish(): Buffer {
    if (this.#pos !== this.buffer.length) throw new Error(`protobuf writer: wrote ${this.#pos} of ${this.buffer.length} measured bytes`);
    return this.buffer;
  }

  #varint(value: number): this {
    while (value > 0x7f) {
      this.buffer[this.#pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.buffer[this.#pos++] = value;
    return this;
  }
}
