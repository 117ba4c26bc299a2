/**
 * Creates the demo's keys.yaml (beside this file, or at the path given) if it is absent:
 * mode 0600, values that are obviously not real keys. Never overwrites an existing file.
 */
import { openSync, writeSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const file = process.argv[2] ?? fileURLToPath(new URL('./keys.yaml', import.meta.url));
try {
  const fd = openSync(file, 'wx', 0o600);
  writeSync(fd, '# Demo keys for examples/keybroker.yaml. Not real keys.\nopenai/prod: sk-demo-NOT-A-REAL-KEY-0000000000\nanthropic/prod: sk-ant-demo-NOT-A-REAL-KEY-0000\n');
  closeSync(fd);
  console.error(`created ${file} with a fake demo key`);
} catch (error) {
  if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
}
