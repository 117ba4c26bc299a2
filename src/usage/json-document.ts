/**
 * One JSON document read in bounded memory: kept whole and parsed with JSON.parse while
 * it fits `wholeCap`, scanned as it passes (json-scan.ts) once it does not. The values
 * at the wanted paths come out the same either way, each within its cap.
 */
import { isRecord } from './counts.ts';
import { JsonScan, ScanError, textOf, type Wanted } from './json-scan.ts';

export interface Values {
  get(path: readonly string[]): unknown;
}

export class JsonDocument {
  /** Made only for a document too large to parse whole. */
  private scanner: JsonScan | undefined;
  private readonly wanted: readonly Wanted[];
  private readonly wholeCap: number;
  private parts: Uint8Array[] = [];
  private length = 0;
  private scanning = false;

  constructor(wanted: readonly Wanted[], wholeCap: number) {
    this.wanted = wanted;
    this.wholeCap = wholeCap;
  }

  private get scan(): JsonScan {
    this.scanner ??= new JsonScan(this.wanted);
    return this.scanner;
  }

  get retainedBytes(): number {
    return this.length + (this.scanner?.retainedBytes ?? 0);
  }

  reset(): void {
    this.parts = [];
    this.length = 0;
    if (this.scanning) this.scan.reset();
    this.scanning = false;
  }

  /** Throws ScanError when the text cannot be one JSON document within the caps. */
  write(bytes: Uint8Array): void {
    if (!this.scanning && this.length + bytes.length <= this.wholeCap) {
      this.parts.push(bytes.slice());
      this.length += bytes.length;
      return;
    }
    if (!this.scanning) {
      this.scanning = true;
      const kept = this.parts;
      this.parts = [];
      this.length = 0;
      for (const part of kept) this.scan.write(part);
    }
    this.scan.write(bytes);
  }

  /** A value already read, before the end (a scanned document's model, for a failed reading). */
  peek(path: readonly string[]): unknown {
    return this.scanning ? this.scan.get(path) : undefined;
  }

  /** The document ended: its wanted values, or a ScanError when it is not whole JSON. */
  finish(): Values {
    if (this.scanning) {
      this.scan.finish();
      if (!this.scan.complete) throw new ScanError('unparseable', 'not JSON: the document ended early');
      return this.scan;
    }
    let value: unknown;
    try {
      value = JSON.parse(textOf(join(this.parts, this.length)));
    } catch {
      throw new ScanError('unparseable', 'not JSON');
    }
    const values: Values = { get: (path) => path.reduce<unknown>((v, key) => (isRecord(v) && Object.hasOwn(v, key) ? v[key] : undefined), value) };
    for (const { path, cap } of this.wanted) {
      const found = values.get(path);
      if (found !== undefined && sizeOf(found) > cap) throw new ScanError('too_large', `a metered value is larger than ${cap} bytes`);
    }
    return values;
  }
}

/** A value's size as JSON text, as the scanner would have captured it (without whitespace). */
function sizeOf(value: unknown): number {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value).length;
  return typeof value === 'string' ? Buffer.byteLength(value) + 2 : Buffer.byteLength(JSON.stringify(value));
}

function join(parts: readonly Uint8Array[], length: number): Uint8Array {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
}
