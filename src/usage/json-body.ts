/**
 * The meter of a non-streamed JSON response: the body is read as it passes
 * (json-document.ts), keeping only its top-level `usage` and `model`, and read when it ends.
 */
import { JsonDocument, type Values } from './json-document.ts';
import { ScanError } from './json-scan.ts';
import { modelOf, type CountsOrCause } from './counts.ts';
import { MODEL_CAP, USAGE_CAP, WHOLE_BODY_CAP } from './bounds.ts';
import type { UnmeteredCause, UsageMeter, UsageReading } from './types.ts';

const WANTED = [
  { path: ['usage'], cap: USAGE_CAP },
  { path: ['model'], cap: MODEL_CAP },
];

export class JsonBodyMeter implements UsageMeter {
  private readonly doc: JsonDocument;
  private failed: UnmeteredCause | undefined;
  private readonly tokensOf: (usage: unknown) => CountsOrCause;

  constructor(tokensOf: (usage: unknown) => CountsOrCause, wholeCap = WHOLE_BODY_CAP) {
    this.tokensOf = tokensOf;
    this.doc = new JsonDocument(WANTED, wholeCap);
  }

  /** Bytes held beyond the fixed nesting stack (for the bounded-memory tests). */
  get retainedBytes(): number {
    return this.doc.retainedBytes;
  }

  write(chunk: Uint8Array): void {
    if (this.failed) return;
    try {
      this.doc.write(chunk);
    } catch (error) {
      if (!(error instanceof ScanError)) throw error;
      this.failed = error.reason;
    }
  }

  end(complete: boolean): UsageReading {
    const unmetered = (cause: UnmeteredCause, model = modelOf(this.doc.peek(['model']))): UsageReading => ({ metered: false, cause, ...(model !== undefined && { model }) });
    if (this.failed) return unmetered(this.failed);
    if (!complete) return unmetered('cut');
    let values: Values;
    try {
      values = this.doc.finish();
    } catch (error) {
      if (!(error instanceof ScanError)) throw error;
      return unmetered(error.reason);
    }
    const model = modelOf(values.get(['model']));
    const tokens = this.tokensOf(values.get(['usage']));
    if (typeof tokens === 'string') return unmetered(tokens, model);
    return { metered: true, tokens, ...(model !== undefined && { model }) };
  }
}
