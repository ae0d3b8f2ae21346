import { UserError } from '../errors.js';
import { COMMON_FLAGS, type Command } from './command.js';

export const command: Command = {
  name: 'gc',
  summary: 'not built yet',
  usage: 'gc',
  examples: [],
  flags: { ...COMMON_FLAGS },
  async run() {
    throw new UserError('EUSAGE', 'gc: not built yet');
  },
};
