/** Captures everything written to a stream so tests can scan it for secrets. */
import { Writable } from 'node:stream';

export class Capture extends Writable {
  readonly chunks: string[] = [];

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.chunks.push(chunk.toString());
    done();
  }

  text(): string {
    return this.chunks.join('');
  }

  /** Parsed JSON log lines. */
  lines(): Array<Record<string, unknown>> {
    return this.text()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}
