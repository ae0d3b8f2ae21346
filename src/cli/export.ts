import { UserError } from '../errors.js';
import { COMMON_FLAGS, type Command } from './command.js';

export const command: Command = {
  name: 'export',
  summary: 'not built yet',
  usage: 'export',
  examples: [],
  flags: { ...COMMON_FLAGS },
  async run() {
    throw new UserError('EUSAGE', 'export: not built yet');
  },
};
