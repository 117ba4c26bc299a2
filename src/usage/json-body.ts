/**
 * The meter of a non-streamed JSON response: the body is scanned as it passes
 * (json-scan.ts), keeping only its top-level `usage` and `model`, and read when it ends.
 */
import { JsonScan, ScanError } from './json-scan.ts';
import { modelOf, type CountsOrCause } from './counts.ts';
import { MODEL_CAP, USAGE_CAP } from './bounds.ts';
import type { UnmeteredCause, UsageMeter, UsageReading } from './types.ts';

export class JsonBodyMeter implements UsageMeter {
  private readonly scan = new JsonScan([
    { path: ['usage'], cap: USAGE_CAP },
    { path: ['model'], cap: MODEL_CAP },
  ]);
  private failed: UnmeteredCause | undefined;
  private readonly tokensOf: (usage: unknown) => CountsOrCause;

  constructor(tokensOf: (usage: unknown) => CountsOrCause) {
    this.tokensOf = tokensOf;
  }

  /** Bytes held beyond the fixed nesting stack (for the bounded-memory tests). */
  get retainedBytes(): number {
    return this.scan.retainedBytes;
  }

  write(chunk: Uint8Array): void {
    if (this.failed) return;
    try {
      this.scan.write(chunk);
    } catch (error) {
      if (!(error instanceof ScanError)) throw error;
      this.failed = error.reason;
    }
  }

  end(complete: boolean): UsageReading {
    const model = modelOf(this.scan.get(['model']));
    const unmetered = (cause: UnmeteredCause): UsageReading => ({ metered: false, cause, ...(model !== undefined && { model }) });
    if (this.failed) return unmetered(this.failed);
    if (!complete) return unmetered('cut');
    try {
      this.scan.finish();
    } catch (error) {
      if (!(error instanceof ScanError)) throw error;
      return unmetered(error.reason);
    }
    if (!this.scan.complete) return unmetered('unparseable');
    const tokens = this.tokensOf(this.scan.get(['usage']));
    if (typeof tokens === 'string') return unmetered(tokens);
    return { metered: true, tokens, ...(model !== undefined && { model }) };
  }
}
