import { fileURLToPath } from 'node:url';

/**
 * Files shipped beside the code, named from dist/'s top level: this module sits one level below
 * it, as the CLI's bundle does (dist/cli/, package.json's build), so the paths are the same from
 * either.
 */

/** Where `npm run build` puts the C helper, when a C compiler was there. */
export const NATIVE_HELPER = fileURLToPath(new URL('../executor/native/task-pipeline-spawner', import.meta.url));

/** The shipped Python helper's directory (python/ at the package root), put on PYTHONPATH. */
export const PYTHON_HELPER_DIR = fileURLToPath(new URL('../../python', import.meta.url));
