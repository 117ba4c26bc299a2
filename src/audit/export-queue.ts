/**
 * The audit records' way out: a bounded queue drained in batches to the trace exporter.
 * Decisions never wait on it — a full queue drops the record and counts it, and an export
 * that fails or times out counts its whole batch as dropped. Drops are logged at most
 * once per `logEveryMs`.
 */
import type { Context } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Logger } from 'pino';

export interface QueueOptions {
  readonly maxQueue: number;
  readonly maxBatch: number;
  readonly flushEveryMs: number;
  readonly exportTimeoutMs: number;
  readonly logEveryMs?: number;
}

export interface QueueStats {
  exported: number;
  dropped: number;
}

export class AuditExportQueue implements SpanProcessor {
  readonly stats: QueueStats = { exported: 0, dropped: 0 };
  readonly #exporter: SpanExporter;
  readonly #options: QueueOptions;
  readonly #log: Logger;
  readonly #queue: ReadableSpan[] = [];
  readonly #timer: NodeJS.Timeout;
  #exporting: Promise<void> | undefined;
  #lastDropLog = 0;
  #droppedSinceLog = 0;
  #closed = false;

  constructor(exporter: SpanExporter, options: QueueOptions, log: Logger) {
    this.#exporter = exporter;
    this.#options = options;
    this.#log = log;
    this.#timer = setInterval(() => void this.#drain(), options.flushEveryMs);
    this.#timer.unref();
  }

  onStart(_span: Span, _context: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#options.maxQueue) {
      this.#drop(1, 'the audit export queue is full');
      return;
    }
    this.#queue.push(span);
    if (this.#queue.length >= this.#options.maxBatch) void this.#drain();
  }

  /** Exports everything queued now, for at most `deadlineMs`; resolves when done or out of time. */
  async forceFlush(deadlineMs = this.#options.exportTimeoutMs * 2): Promise<void> {
    const until = Date.now() + deadlineMs;
    while ((this.#queue.length > 0 || this.#exporting) && Date.now() < until) {
      await (this.#exporting ?? this.#drain());
    }
  }

  /** Flushes what it can in bounded time (a dead backend must not hold up exit), drops and counts the rest. */
  async shutdown(): Promise<void> {
    clearInterval(this.#timer);
    await this.forceFlush();
    this.#closed = true;
    if (this.#queue.length > 0) {
      this.#lastDropLog = 0;
      this.#drop(this.#queue.splice(0).length, 'shutting down before the trace backend took them');
    }
    await this.#exporter.shutdown();
  }

  #drain(): Promise<void> {
    if (this.#exporting || this.#queue.length === 0) return this.#exporting ?? Promise.resolve();
    const batch = this.#queue.splice(0, this.#options.maxBatch);
    this.#exporting = this.#export(batch).finally(() => {
      this.#exporting = undefined;
    });
    return this.#exporting;
  }

  async #export(batch: ReadableSpan[]): Promise<void> {
    const result = await new Promise<ExportResult>((resolve) => {
      const timeout = setTimeout(() => resolve({ code: ExportResultCode.FAILED, error: new Error('export timed out') }), this.#options.exportTimeoutMs);
      try {
        this.#exporter.export(batch, (r) => {
          clearTimeout(timeout);
          resolve(r);
        });
      } catch (error) {
        clearTimeout(timeout);
        resolve({ code: ExportResultCode.FAILED, error: error as Error });
      }
    });
    if (result.code === ExportResultCode.SUCCESS) this.stats.exported += batch.length;
    else this.#drop(batch.length, `export failed: ${result.error?.message ?? 'unknown error'}`);
  }

  #drop(count: number, why: string): void {
    this.stats.dropped += count;
    this.#droppedSinceLog += count;
    const now = Date.now();
    if (now - this.#lastDropLog >= (this.#options.logEveryMs ?? 10_000)) {
      this.#log.warn({ dropped: this.#droppedSinceLog, droppedTotal: this.stats.dropped, why }, 'audit records dropped');
      this.#lastDropLog = now;
      this.#droppedSinceLog = 0;
    }
  }
}
