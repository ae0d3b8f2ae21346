import { errnoCode, UserError } from '../errors.js';
import { findObject } from '../store/inspect/find-object.js';
import { copyVerified } from '../store/inspect/read-object.js';
import { COMMON_FLAGS, DB_FLAG, STORE_FLAG, type Command } from './command.js';
import { withInspectDb } from './inspect-db.js';

export const command: Command = {
  name: 'cat',
  summary: "Write an object's bytes to stdout, checking its size and hash as they stream.",
  usage: 'cat [-db ./db | -db postgres://... -store DIR] HASH|PREFIX',
  examples: ['task-pipeline cat -db ./db 3f2a9c0e > part-aa.txt'],
  flags: { db: DB_FLAG, store: STORE_FLAG, ...COMMON_FLAGS },
  notes: [
    'HASH|PREFIX: a full SHA-256, or a prefix of 4 or more hex characters that only one object has.',
    'Exit codes: 0 ok; 1 the object file is missing or corrupt (said on stderr, after the bytes if the hash is wrong);',
    '2 no db, unknown or ambiguous hash (the candidates are listed), bad flag.',
  ],
  async run(args, io) {
    const [ref, extra] = args.positionals;
    if (ref === undefined || extra !== undefined)
      throw new UserError('EUSAGE', "cat: give one HASH or PREFIX; see 'task-pipeline cat --help'");
    const { obj, store, dbArgs } = await withInspectDb(
      'cat',
      args,
      async (db) => ({ obj: await findObject(db, ref), store: db.store, dbArgs: db.dbArgs }),
      { objects: true },
    );
    try {
      await copyVerified(store, obj, io.stdout, undefined, dbArgs);
    } catch (err) {
      // The reader went away (`| head`): not an error of ours.
      if (errnoCode(err) === 'EPIPE') return 0;
      throw err;
    }
    return 0;
  },
};
