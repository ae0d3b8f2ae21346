export type { Manifest, TaskFile, TaskSpec } from './types.js';
export { DEFAULT_SHELL } from './types.js';
export { ManifestError, formatProblem, type ManifestProblem } from './errors.js';
export { loadManifest } from './load.js';
export { compileGlob, globError, matchesAny } from './glob.js';
export { canonicalJson, taskVersion } from './version.js';
