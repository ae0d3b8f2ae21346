import { UserError } from '../errors.js';
import { COMMON_FLAGS, type Command } from './command.js';

export const command: Command = {
  name: 'status',
  summary: 'not built yet',
  usage: 'status',
  examples: [],
  flags: { ...COMMON_FLAGS },
  async run() {
    throw new UserError('EUSAGE', 'status: not built yet');
  },
};
