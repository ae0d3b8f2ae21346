// The worker of stat-many.ts: stats its share of the paths into the shared array it was given.
import { workerData } from 'node:worker_threads';
import { statChunks } from './stat-many.js';

const { paths, stamps, next } = workerData as { paths: string; stamps: Float64Array; next: Int32Array };
statChunks(paths === '' ? [] : paths.split('\0'), stamps, next);
