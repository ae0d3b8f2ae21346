// `node report-main.js DB RUN_ID FILE`: writeRunReport in a fresh process (see there why).
import { writeReportHere } from './report.js';

const [dbDir, runId, file] = process.argv.slice(2);
try {
  await writeReportHere(dbDir!, Number(runId), file!);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
}
