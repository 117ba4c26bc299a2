/**
 * The meter of a streamed (server-sent events) response: each event's data is read as it
 * passes (sse.ts, json-document.ts) for the few values its family reads, and handed to
 * the family's reader when the event ends. Nothing of an event is kept after it.
 */
import { JsonDocument, type Values } from './json-document.ts';
import { ScanError, type Wanted } from './json-scan.ts';
import { WHOLE_EVENT_CAP } from './bounds.ts';
import { SseSplitter } from './sse.ts';
import type { UnmeteredCause, UsageMeter, UsageReading } from './types.ts';

/** What a family reads from its events. */
export interface EventReader {
  readonly wanted: readonly Wanted[];
  /** One whole event's captured values; a cause when they cannot be metered. */
  event(values: Values): UnmeteredCause | undefined;
  /** The reading once the stream ended; `cut` when it ended early. */
  reading(cut: boolean): UsageReading;
  /** The model seen so far, for readings that fail before the end. */
  readonly model: string | undefined;
  /** OpenAI's `data: [DONE]`: the stream's own end. */
  done?(): void;
}

/** OpenAI ends its streams with this, which is not JSON. */
const DONE = new TextEncoder().encode('[DONE]');

export class SseBodyMeter implements UsageMeter {
  private readonly doc: JsonDocument;
  private readonly splitter: SseSplitter;
  private failed: UnmeteredCause | undefined;
  /** The current event's trouble, known only once it ends (it may be `[DONE]`). */
  private eventError: ScanError | undefined;
  private eventBytes = 0;
  private isDone = true;

  private readonly reader: EventReader;

  constructor(reader: EventReader, wholeCap = WHOLE_EVENT_CAP) {
    this.reader = reader;
    this.doc = new JsonDocument(reader.wanted, wholeCap);
    this.splitter = new SseSplitter({ data: (bytes) => this.data(bytes), dispatch: () => this.dispatch() });
  }

  get retainedBytes(): number {
    return this.doc.retainedBytes;
  }

  write(chunk: Uint8Array): void {
    if (!this.failed) this.splitter.write(chunk);
  }

  end(complete: boolean): UsageReading {
    if (this.failed) {
      const model = this.reader.model;
      return { metered: false, cause: this.failed, ...(model !== undefined && { model }) };
    }
    return this.reader.reading(!complete || this.splitter.pending);
  }

  private data(bytes: Uint8Array): void {
    if (this.failed) return;
    const wasDone = this.isDone;
    for (let j = 0; j < bytes.length && this.isDone; j++) this.isDone = this.eventBytes + j < DONE.length && bytes[j] === DONE[this.eventBytes + j];
    const before = this.eventBytes;
    this.eventBytes += bytes.length;
    // What may still be `[DONE]` is held back (at most 6 bytes, in DONE itself) rather
    // than scanned into an error it is not.
    if (this.isDone) return;
    if (wasDone && before > 0) this.feed(DONE.subarray(0, before));
    this.feed(bytes);
  }

  private feed(bytes: Uint8Array): void {
    if (this.eventError) return;
    try {
      this.doc.write(bytes);
    } catch (error) {
      if (!(error instanceof ScanError)) throw error;
      this.eventError = error;
    }
  }

  private dispatch(): void {
    if (this.failed) return;
    const done = this.isDone && this.eventBytes === DONE.length;
    if (done) this.reader.done?.();
    else {
      // A held-back prefix of `[DONE]` ("[DO") was not it after all.
      if (this.isDone) this.feed(DONE.subarray(0, this.eventBytes));
      let values: Values | undefined;
      if (!this.eventError) {
        try {
          values = this.doc.finish();
        } catch (error) {
          if (!(error instanceof ScanError)) throw error;
          this.eventError = error;
        }
      }
      this.failed = values ? this.reader.event(values) : this.eventError!.reason;
    }
    this.doc.reset();
    this.eventError = undefined;
    this.eventBytes = 0;
    this.isDone = true;
  }
}
