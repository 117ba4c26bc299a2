/**
 * Loaded by mocha before any test file (.mocharc.json `require`): every temporary folder
 * a test makes — through os.tmpdir(), in this process or a child — goes under one folder
 * for the run, removed when the run ends, however the tests left theirs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const runDir = mkdtempSync(join(tmpdir(), 'keybroker-run-'));
process.env.TMPDIR = runDir;
process.on('exit', () => rmSync(runDir, { recursive: true, force: true, maxRetries: 2 }));
