/**
 * `keybroker usage`: spend per agent, person, destination or model from the decision log's
 * usage records — an auditor's answer without a trace backend. Reads files or stdin line
 * by line (a log of any size in constant memory besides the groups).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseDuration } from '../config/duration.ts';
import { formatExactUsd } from '../usage/exact-usd.ts';
import { GROUPINGS, summarizeUsage, totalsJson, type Grouping, type Summary, type Totals } from '../usage/summarize.ts';
import { EXIT, UsageError, parseOptions, type Command } from './command.ts';

const OPTIONS = {
  from: { type: 'string' },
  to: { type: 'string' },
  by: { type: 'string', multiple: true },
  json: { type: 'boolean', default: false },
} as const;

export const usageCommand: Command = {
  name: 'usage',
  summary: 'tokens and cost per agent, person, destination or model, from the decision log',
  help: `usage: keybroker usage [FILE...] [--from TIME] [--to TIME] [--by agent|person|destination|model] [--json]

Reads the decision log (FILEs, or stdin when none or "-") and sums its usage records —
one per metered or unmetered provider response — per group: requests, metered and
unmetered, input, cached-input and output tokens, and the exact cost in USD. Other log
lines are ignored; lines that claim to be usage records but cannot be read are counted
and reported (never printed: a log line may hold anything).

  --from TIME     only records at or after TIME: ISO 8601 ("2026-11-01", "2026-11-01T08:00Z")
                  or a time ago ("30m", "24h", "7d")
  --to TIME       only records before TIME (same forms)
  --by G          group by agent (SPIFFE ID), person, destination or model; repeat it or
                  separate with commas for several ("--by agent,model"); default: agent
  --json          one JSON document: groups, total and the malformed line count
  -h, --help      this text

cost: the exact sum of the records' costUsd. "unpriced" counts metered requests whose
model had no price (their cost is unknown, and not in the sum); unmetered requests say
why in the decision log (cause).

exit codes: 0 done (malformed lines are reported on stderr); 1 a file cannot be read; 2 usage`,
  async run(args, io) {
    const { files, values } = splitArgs(args);
    const by = groupings(values.by);
    const now = Date.now();
    const from = values.from === undefined ? undefined : timeOf(values.from, '--from', now);
    const to = values.to === undefined ? undefined : timeOf(values.to, '--to', now);
    if (from !== undefined && to !== undefined && from >= to) throw new UsageError('--from must be before --to');
    const summary = await summarizeUsage(linesOf(files.length === 0 ? ['-'] : files), { by, from, to });
    if (values.json) {
      io.out(
        JSON.stringify({
          ...(from !== undefined && { from: new Date(from).toISOString() }),
          ...(to !== undefined && { to: new Date(to).toISOString() }),
          by,
          groups: summary.groups.map((g) => ({ ...g.key, ...totalsJson(g.totals) })),
          total: totalsJson(summary.total),
          malformedLines: summary.malformed,
        }),
      );
    } else {
      for (const line of table(summary, by)) io.out(line);
    }
    if (summary.malformed > 0) io.err(`keybroker usage: ${summary.malformed} malformed usage line${summary.malformed === 1 ? '' : 's'} skipped`);
    return EXIT.ok;
  },
};

function splitArgs(args: readonly string[]) {
  const files: string[] = [];
  const options: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-' || !arg.startsWith('-')) files.push(arg);
    else {
      options.push(arg);
      const name = arg.replace(/^--?/, '');
      if (!arg.includes('=') && name in OPTIONS && OPTIONS[name as keyof typeof OPTIONS].type === 'string' && i + 1 < args.length) options.push(args[++i]!);
    }
  }
  return { files, values: parseOptions(options, OPTIONS) };
}

function groupings(values: readonly string[] | undefined): Grouping[] {
  const names = (values ?? ['agent']).flatMap((v) => v.split(',')).map((v) => v.trim());
  const by: Grouping[] = [];
  for (const name of names) {
    if (!(GROUPINGS as readonly string[]).includes(name)) throw new UsageError(`--by: expected ${GROUPINGS.join(', ')}, got "${name}"`);
    if (!by.includes(name as Grouping)) by.push(name as Grouping);
  }
  return by;
}

const AGO = /^(\d+)(d)$/;

/** ISO 8601, or a time ago ("30m", "24h", "7d"), in ms since the epoch. */
export function timeOf(text: string, option: string, now: number): number {
  const days = AGO.exec(text);
  const ago = days ? Number(days[1]) * 86_400_000 : parseDuration(text);
  if (ago !== undefined) return now - ago;
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
    const time = Date.parse(text);
    if (!Number.isNaN(time)) return time;
  }
  throw new UsageError(`${option}: expected an ISO 8601 time ("2026-11-01T08:00Z") or a time ago ("30m", "24h", "7d"), got "${text}"`);
}

async function* linesOf(files: readonly string[]): AsyncGenerator<string> {
  for (const file of files) {
    const input: Readable = file === '-' ? process.stdin : createReadStream(file);
    const opened = new Promise<void>((resolve, reject) => {
      if (file === '-') resolve();
      input.once('open', () => resolve());
      input.once('error', (error) => reject(new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error.message}`)));
    });
    await opened;
    yield* createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  }
}

const COLUMNS = ['requests', 'metered', 'unmetered', 'input', 'cached', 'output', 'cost USD', 'unpriced'] as const;

function cells(t: Totals): string[] {
  return [t.requests, t.metered, t.unmetered, t.inputTokens, t.cachedInputTokens, t.outputTokens, formatExactUsd(t.costPicos), t.unpriced].map(String);
}

function table(summary: Summary, by: readonly Grouping[]): string[] {
  const rows = [[...by, ...COLUMNS], ...summary.groups.map((g) => [...by.map((b) => g.key[b] ?? '-'), ...cells(g.totals)]), [...by.map((_, i) => (i === 0 ? 'total' : '')), ...cells(summary.total)]];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  // Keys left-aligned, numbers right-aligned.
  return rows.map((r) =>
    r
      .map((cell, c) => (c < by.length ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
}
